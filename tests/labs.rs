//! Graders for the labs in docs/labs/ (as xv6's `make grade`): each lab is a module of tests,
//! ignored in `make test` and run by `make grade LAB=name`, which prints a score. On the tree as
//! it is, every grader must fail (the test below runs them all, so a grader that passes without
//! the lab's work, and scores points for nothing, is caught); with the reference solution in
//! docs/labs/solutions/ applied, every grader must pass (`make test-labs` checks that in a
//! scratch copy, where it runs only the ignored graders, not the check below).
//!
//! A grader that fails says what it expected next to what it saw ([`fail`]), and only that: no
//! Rust panic location, no backtrace ([`grade`]), since a student reads it, not a developer.
//! A lab whose work the tree ships (pipes, spinlocks) starts from a patch in docs/labs/start/
//! that takes it out (`make lab-start LAB=name`): its graders must fail on a tree with that
//! patch applied, and pass once its solution is applied on top (`make test-labs`, both).

mod common;
use common::*;
use std::time::Duration;

/// A grader's verdict: `what` was checked, `expected` is what the lab asks for and `seen` what
/// the tree gave. Multi-line values are indented under their label.
fn fail(what: &str, expected: &str, seen: &str) -> ! {
    let show = |value: &str| {
        let value = value.trim_end_matches('\n');
        if value.contains('\n') {
            format!("\n      {}", value.replace('\n', "\n      "))
        } else {
            format!(" {value}")
        }
    };
    std::panic::panic_any(format!(
        "{what}\n    expected:{}\n    seen:{}",
        show(expected),
        show(seen)
    ))
}

/// `seen` must be `expected`.
fn expect_eq(what: &str, expected: &str, seen: &str) {
    if expected != seen {
        fail(what, expected, seen);
    }
}

/// `seen` must hold the line `expected`.
fn expect_line(what: &str, expected: &str, seen: &str) {
    if !seen.lines().any(|l| l == expected) {
        fail(what, expected, seen);
    }
}

/// `seen` must hold `expected` somewhere.
fn expect_contains(what: &str, expected: &str, seen: &str) {
    if !seen.contains(expected) {
        fail(what, &format!("... {expected} ..."), seen);
    }
}

/// Runs one grader as `make grade` shows it: a failure prints the grader's own message only
/// (the panic hook is replaced, so neither a source location nor a backtrace is printed, even
/// with RUST_BACKTRACE set).
fn grade(check: fn()) {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("the check failed");
        eprintln!("{message}");
    }));
    check();
}

fn os(input: &str) -> String {
    let r = run_with(&["os-1k"], input.as_bytes(), &[], Duration::from_secs(60));
    if r.status != 0 {
        fail(
            "the 1K OS, given the commands, ends",
            "status 0 (the shell's 0 powers it off)",
            &format!("status {}: {}", r.status, r.stderr),
        );
    }
    r.stdout
}

/// The text the shell printed for `command`, up to the next prompt.
fn answer<'a>(out: &'a str, command: &str) -> &'a str {
    let Some(at) = out.find(&format!("$ {command}\n")) else {
        fail(&format!("the shell takes the command {command:?}"), &format!("$ {command}"), out)
    };
    let start = at + "$ \n".len() + command.len();
    let rest = &out[start..];
    &rest[..rest.find("$ ").unwrap_or(rest.len())]
}

/// Lab 1: a PUTHEX hypercall (docs/labs/01-hypercall.md).
pub mod hypercall {
    use super::*;

    pub fn prints_two_hex_digits_per_call() {
        let r = run(&[&test_guest("lab_puthex")]);
        expect_eq(
            "PUTHEX of 0x00, 0x2A, 0xFF then a newline",
            r#"stdout "002AFF\n", status 0, stderr """#,
            &format!("stdout {:?}, status {}, stderr {:?}", r.stdout, r.status, r.stderr),
        );
    }

    pub fn the_trace_names_the_call() {
        let r = run(&["--trace=hypercall", &test_guest("lab_puthex")]);
        let lines: Vec<&str> = r.stderr.lines().collect();
        let named = lines.len() >= 3
            && lines[..3].iter().all(|l| l.contains("hypercall PUTHEX 0x"))
            && lines[1].contains("hypercall PUTHEX 0x2a");
        if !named {
            fail(
                "--trace=hypercall explains each PUTHEX exit",
                "three lines with `hypercall PUTHEX 0x00`, `... 0x2a`, `... 0xff`",
                &r.stderr,
            );
        }
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=hypercall"]
    fn grade_prints_two_hex_digits_per_call() {
        grade(prints_two_hex_digits_per_call)
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=hypercall"]
    fn grade_the_trace_names_the_call() {
        grade(the_trace_names_the_call)
    }
}

/// Lab 2: a system call, getppid, and a program that uses it (docs/labs/02-syscall.md).
pub mod syscall {
    use super::*;

    pub fn ppid_prints_its_parent() {
        let out = os("ppid\nppid\n0\n");
        expect_eq(
            "the shell's answer to the first `ppid`",
            "ppid: I am pid 2, my parent is pid 1\n",
            answer(&out, "ppid"),
        );
        // The second run is a new process: the pid moves on, the parent is the shell again.
        let second = out.rsplit("$ ppid\n").next().unwrap_or_default();
        let second = &second[..second.find("$ ").unwrap_or(second.len())];
        expect_line(
            "the shell's answer to the second `ppid` (a new process)",
            "ppid: I am pid 3, my parent is pid 1",
            second,
        );
    }

    pub fn a_background_ppid_too() {
        let out = os("ppid &\nwait 2\n0\n");
        // A background program's output may come anywhere after its command, even on the
        // line of the next prompt (`$ ppid: I am...`): look from the command to the end.
        let seen = &out[out.find("ppid &\n").unwrap_or(0)..];
        expect_contains(
            "`ppid &` (in the background), then `wait 2`",
            "ppid: I am pid 2, my parent is pid 1\n",
            seen,
        );
        expect_contains(
            "`wait 2` reports the background program's end",
            "[2] done (status 0)\n",
            seen,
        );
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=syscall"]
    fn grade_ppid_prints_its_parent() {
        grade(ppid_prints_its_parent)
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=syscall"]
    fn grade_a_background_ppid_too() {
        grade(a_background_ppid_too)
    }
}

/// Lab 3: print a process's page tables (docs/labs/03-vmprint.md).
pub mod vmprint {
    use super::*;

    const LEAF: &str = " .. .. .. ..INDEX: va 0xADDRESS -> pa 0xADDRESS FLAGS";

    /// The leaf lines: (virtual address, flags); a leaf line not in the format fails.
    fn leaves(text: &str) -> Vec<(u64, String)> {
        text.lines()
            .filter_map(|l| l.strip_prefix(" .. .. .. ..").map(|rest| (l, rest)))
            .map(|(line, rest)| {
                let parsed = rest.split_once(": va 0x").and_then(|(_, rest)| {
                    let (va, rest) = rest.split_once(" -> pa 0x")?;
                    let (_, flags) = rest.split_once(' ')?;
                    Some((u64::from_str_radix(va, 16).ok()?, flags.to_string()))
                });
                parsed.unwrap_or_else(|| fail("a page's line", LEAF, line))
            })
            .collect()
    }

    /// The answer to `vmprint`, which must start with the header.
    fn tree(out: &str) -> &str {
        let text = answer(out, "vmprint");
        let first = text.lines().next().unwrap_or("");
        if !first.starts_with("page table of pid 2 (vmprint), PML4 at physical 0x") {
            fail(
                "the first line of `vmprint`'s answer",
                "page table of pid 2 (vmprint), PML4 at physical 0x...",
                first,
            );
        }
        text
    }

    pub fn the_tree_has_four_levels_and_the_user_pages() {
        let out = os("vmprint\n0\n");
        let text = tree(&out);
        for prefix in [" ..0: PDPT at 0x", " .. ..0: PD at 0x", " .. .. ..2: PT at 0x"] {
            if !text.lines().any(|l| l.starts_with(prefix)) {
                fail("the first entry of each level", &format!("a line {prefix}..."), text);
            }
        }
        let leaves = leaves(text);
        let seen = leaves
            .iter()
            .map(|(va, flags)| format!("{va:#x} {flags}"))
            .collect::<Vec<_>>()
            .join("\n");
        let vas: Vec<u64> = leaves.iter().map(|l| l.0).collect();
        let pages_in_order = vas.contains(&0x40_0000)
            && vas.contains(&0x7F_E000)
            && vas.contains(&0x7F_F000)
            && vas.windows(2).all(|w| w[0] < w[1]);
        if !pages_in_order {
            fail(
                "the pages, in address order (virtual address and flags)",
                "0x400000 P W U (the program's first page) ... 0x7fe000 P W U, 0x7ff000 P W U \
                 (the stack)",
                &seen,
            );
        }
        if let Some((va, flags)) = leaves.iter().find(|l| l.1 != "P W U") {
            fail(
                &format!("the flags of the page at {va:#x} (present, writable, user)"),
                "P W U",
                flags,
            );
        }
    }

    pub fn only_the_user_half_is_printed() {
        let out = os("vmprint\n0\n");
        let text = tree(&out);
        if let Some(kernel) = text.lines().find(|l| l.starts_with(" ..511:")) {
            fail(
                "only the process's half: PML4 entries 0-255, not the kernel's 511",
                "no line \" ..511: ...\"",
                kernel,
            );
        }
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=vmprint"]
    fn grade_the_tree_has_four_levels_and_the_user_pages() {
        grade(the_tree_has_four_levels_and_the_user_pages)
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=vmprint"]
    fn grade_only_the_user_half_is_printed() {
        grade(only_the_user_half_is_printed)
    }
}

/// Lab 4: stacks that grow on demand (docs/labs/04-lazy-stack.md).
pub mod lazy_stack {
    use super::*;

    const DEEP: &str = "deep: going 100 calls down\ndeep: 100 calls down and back up\n";

    pub fn deep_recursion_gets_its_stack() {
        let out = os("deep\n0\n");
        expect_eq("the shell's answer to `deep`", DEEP, answer(&out, "deep"));
    }

    /// Once stacks grow (so this grades the lab's work too), a wild address still kills.
    pub fn a_wild_address_still_kills_the_program() {
        let out = os("deep\nfault\n0\n");
        expect_eq("the shell's answer to `deep`", DEEP, answer(&out, "deep"));
        expect_contains(
            "`fault` writes to the kernel: only the stack grows",
            "[kernel] pid 3 (fault): page fault (#PF) at address 0xffffffff80100000",
            answer(&out, "fault"),
        );
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=lazy-stack"]
    fn grade_deep_recursion_gets_its_stack() {
        grade(deep_recursion_gets_its_stack)
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=lazy-stack"]
    fn grade_a_wild_address_still_kills_the_program() {
        grade(a_wild_address_still_kills_the_program)
    }
}

/// Lab 5: a `--trace` class for what no device claims (docs/labs/05-unclaimed.md).
pub mod unclaimed {
    use super::*;

    pub fn the_class_shows_only_unclaimed_accesses() {
        let r = run(&["--trace=unclaimed", &test_guest("lab_unclaimed")]);
        expect_eq(
            "the guest runs as without the trace: stdout and status",
            "ok\n, 0",
            &format!("{}, {}", r.stdout, r.status),
        );
        let lines: Vec<&str> = r.stderr.lines().collect();
        let expected = [
            ("in  0x0070", "no device (CMOS RTC): reads all ones"),
            ("out 0x0080", "no device (POST diagnostic): write ignored"),
            ("read 0xffff0", "no device: reads all ones"),
        ];
        let wanted = "three lines, one per unclaimed access and nothing else: `in  0x0070` ... \
                      `no device (CMOS RTC): reads all ones`, `out 0x0080` ... `no device (POST \
                      diagnostic): write ignored`, `[0] #4 ` ... `read 0xffff0` ... `no device: \
                      reads all ones`";
        let right = lines.len() == expected.len()
            && lines
                .iter()
                .zip(expected)
                .all(|(line, (raw, words))| line.contains(raw) && line.contains(words))
            // The exits keep their numbers: #3 is the hypercall the class leaves out.
            && lines[2].starts_with("[0] #4 ");
        if !right {
            fail("--trace=unclaimed on lab_unclaimed", wanted, &r.stderr);
        }
    }

    pub fn help_and_errors_name_the_class() {
        let help = run(&["--help"]);
        if !help.stdout.contains("unclaimed") {
            fail("--help lists the classes", "... unclaimed ...", &help.stdout);
        }
        let r = run(&["--trace=bogus", "hello"]);
        let known = r.stderr.split_once("(known: ").map_or("", |(_, rest)| rest);
        if !known.split([',', ')']).any(|class| class.trim() == "unclaimed") {
            fail(
                "--trace=bogus names the known classes",
                "... (known: io, ..., unclaimed, ..., all) ...",
                &r.stderr,
            );
        }
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=unclaimed"]
    fn grade_the_class_shows_only_unclaimed_accesses() {
        grade(the_class_shows_only_unclaimed_accesses)
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=unclaimed"]
    fn grade_help_and_errors_name_the_class() {
        grade(help_and_errors_name_the_class)
    }
}

/// Lab 6: a scheduler with priorities, and the nice system call (docs/labs/06-nice.md).
pub mod nice {
    use super::*;

    const NICE: &str = "nice: L (pid 3) at nice 5, H (pid 4) at nice 0\n\
                        HHHHHHHHHHHHLLLLLLLLLLLL\n\
                        nice: refused: nice 11 -> -1, no such process -> -1\n";

    pub fn the_lower_nice_value_runs_first() {
        let out = os("nice\n0\n");
        expect_eq("the shell's answer to `nice`", NICE, answer(&out, "nice"));
    }

    /// With priorities in (so this grades the lab's work too), equals still share the CPU.
    pub fn equals_still_take_turns() {
        let out = os("nice\npreempt\n0\n");
        expect_eq("the shell's answer to `nice`", NICE, answer(&out, "nice"));
        let text = answer(&out, "preempt");
        let letters = text
            .lines()
            .find(|l| l.starts_with('A') || l.starts_with('B'))
            .unwrap_or_else(|| fail("`preempt`'s letters", "a line of As and Bs", text));
        let switches = letters.as_bytes().windows(2).filter(|w| w[0] != w[1]).count();
        if switches < 3 {
            fail(
                "`preempt`: two spinners at the same nice value share the CPU",
                "As and Bs taking turns, at least 3 switches (ABAB... or AAABBBAAABBB...)",
                letters,
            );
        }
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=nice"]
    fn grade_the_lower_nice_value_runs_first() {
        grade(the_lower_nice_value_runs_first)
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=nice"]
    fn grade_equals_still_take_turns() {
        grade(equals_still_take_turns)
    }
}

/// Lab 7: the pipe system call (docs/labs/07-pipe.md).
pub mod pipe {
    use super::*;

    pub fn ls_into_wc() {
        // Through a pipe, wc counts what ls would have written into a file. A pipe of
        // shell (15 KiB) fills the 512-byte buffer again and again: both sides must wait.
        let out = os("ls > list\nwc < list\nls | wc\nwc < shell\ncat shell | wc\n0\n");
        let counted = answer(&out, "wc < list");
        assert!(counted.split(' ').count() == 3, "{out}");
        assert_eq!(answer(&out, "ls | wc"), counted, "{out}");
        assert_eq!(answer(&out, "cat shell | wc"), answer(&out, "wc < shell"), "{out}");
    }

    pub fn a_pipeline_of_three() {
        let out = os("cat readme.txt | grep KVM | wc\n\
             cat readme.txt | grep KVM > found; cat found\n0\n");
        assert_eq!(answer(&out, "cat readme.txt | grep KVM | wc"), "1 15 77\n");
        assert_eq!(
            answer(&out, "cat readme.txt | grep KVM > found; cat found"),
            "KVM runs the kernel and its programs; mini-kvm gives them a UART and a disk.\n"
        );
    }

    pub fn the_reader_sees_end_of_file() {
        // wc prints only once its input has ended: when echo, the last writer, has gone.
        let out = os("echo hello | wc\necho one two | cat | wc\n0\n");
        assert_eq!(answer(&out, "echo hello | wc"), "1 1 6\n");
        assert_eq!(answer(&out, "echo one two | cat | wc"), "1 2 8\n");
    }

    pub fn the_writer_sees_the_reader_gone() {
        // yes writes forever; once head has its three lines and ends, yes's next write
        // must fail, or the job never ends.
        let out = os("yes | head -n 3\nyes | head -n 2 | wc\n0\n");
        assert_eq!(answer(&out, "yes | head -n 3"), "y\ny\ny\n");
        assert_eq!(answer(&out, "yes | head -n 2 | wc"), "2 2 4\n");
    }

    pub fn ctrl_c_ends_the_whole_pipeline() {
        let out = os("echo piped | cat\n0\n");
        assert_eq!(answer(&out, "echo piped | cat"), "piped\n", "a pipe first");
        let mut s = Interactive::start(&["--timeout", "60", "os-1k"], "\n$ ");
        s.send("spin A 100000 | cat\n");
        s.expect("spin A 100000 | cat\nA");
        s.send("\x03");
        s.expect("[2] killed\n$ ");
        s.send("ps\n");
        s.expect("running   ps\n$ ");
        let out = s.finish();
        for line in ["[kernel] pid 2 (spin): killed\n", "[kernel] pid 3 (cat): killed\n"] {
            assert!(out.contains(line), "{line:?} in:\n{out}");
        }
        let ps = &out[out.rfind("  PID  PPID").expect("ps")..];
        assert!(!ps.contains(" spin\n") && !ps.contains(" cat\n"), "{ps}");
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=pipe"]
    fn grade_ls_into_wc() {
        ls_into_wc()
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=pipe"]
    fn grade_a_pipeline_of_three() {
        a_pipeline_of_three()
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=pipe"]
    fn grade_the_reader_sees_end_of_file() {
        the_reader_sees_end_of_file()
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=pipe"]
    fn grade_the_writer_sees_the_reader_gone() {
        the_writer_sees_the_reader_gone()
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=pipe"]
    fn grade_ctrl_c_ends_the_whole_pipeline() {
        ctrl_c_ends_the_whole_pipeline()
    }
}

/// Lab 8: spinlocks (docs/labs/08-locks.md). The tree ships working locks; the lab starts from
/// docs/labs/start/locks.patch, which leaves acquire, release, holding, pushcli and popcli
/// stubs that stop the kernel at once, so on that tree every grader fails at boot.
pub mod locks {
    use super::*;

    /// The OS on one CPU with `input`; its status and output.
    fn os_status(input: &str) -> (i32, String) {
        let r = run_with(&["os-1k"], input.as_bytes(), &[], Duration::from_secs(60));
        (r.status, r.stdout)
    }

    pub fn a_counter_from_both_cpus_is_exact() {
        let mut s = Interactive::start(&["--timeout", "60", "--cpus", "2", "os-1k"], "\n$ ");
        let answer = s.command("locks count 3000");
        s.send("0\n");
        s.finish();
        let line = answer.lines().next().unwrap_or("");
        let parts: Vec<u64> = line
            .split(|c: char| !c.is_ascii_digit())
            .filter(|w| !w.is_empty())
            .filter_map(|w| w.parse().ok())
            .collect();
        // "locks: CPU 0 added A, CPU 1 added B; the counter is C: none lost"
        assert!(
            parts.len() == 5 && parts[1] > 0 && parts[3] > 0 && parts[4] == parts[1] + parts[3],
            "both CPUs add, and the counter has every increment: {answer}"
        );
        assert!(line.ends_with(": none lost"), "{answer}");
    }

    pub fn acquiring_a_held_lock_panics_naming_it() {
        let (status, out) = os_status("locks twice\n0\n");
        assert!(
            out.contains("\n[kernel] PANIC: acquire: locktest: already held by this CPU\n"),
            "{out}"
        );
        assert_eq!(status, 70, "a panic powers off with status 70: {out}");
    }

    pub fn releasing_with_interrupts_on_panics_naming_the_lock() {
        let (status, out) = os_status("locks sti\n0\n");
        assert!(
            out.contains(
                "\n[kernel] PANIC: release: locktest: interrupts are on while it is held\n"
            ),
            "{out}"
        );
        assert_eq!(status, 70, "{out}");
    }

    pub fn interrupts_stay_off_until_the_last_release() {
        let (status, out) = os_status("locks nest\nls motd\n0\n");
        assert_eq!(status, 0, "{out}");
        assert_eq!(
            answer(&out, "locks nest"),
            "locks: interrupts off under one lock: yes, under two: yes, after the inner \
             release: yes; on again after the outer: yes\n"
        );
        assert_eq!(answer(&out, "ls motd"), "motd              153\n", "the OS goes on");
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=locks"]
    fn grade_a_counter_from_both_cpus_is_exact() {
        a_counter_from_both_cpus_is_exact()
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=locks"]
    fn grade_acquiring_a_held_lock_panics_naming_it() {
        acquiring_a_held_lock_panics_naming_it()
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=locks"]
    fn grade_releasing_with_interrupts_on_panics_naming_the_lock() {
        releasing_with_interrupts_on_panics_naming_the_lock()
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=locks"]
    fn grade_interrupts_stay_off_until_the_last_release() {
        interrupts_stay_off_until_the_last_release()
    }
}

/// The 1K OS with `args` before it (a `--disk`, a `--trace`), given `input`: (stdout, stderr).
fn os_with(args: &[&str], input: &str) -> (String, String) {
    let mut all = args.to_vec();
    all.push("os-1k");
    let r = run_with(&all, input.as_bytes(), &[], Duration::from_secs(60));
    if r.status != 0 {
        fail(
            &format!("mini-kvm {}, given the commands, ends", all.join(" ")),
            "status 0 (the shell's 0 powers it off)",
            &format!("status {}: {}", r.status, r.stderr),
        );
    }
    (r.stdout, r.stderr)
}

/// Lab 9: the disk's name, a GET_ID request from the 1K OS (docs/labs/09-diskid.md).
pub mod diskid {
    use super::*;

    pub fn diskid_names_the_built_in_disk() {
        let (out, _) = os_with(&[], "diskid\n0\n");
        expect_eq(
            "`diskid` on the disk mini-kvm gives the 1K OS without --disk (its ID is \"os-1k\")",
            "diskid: os-1k\n",
            answer(&out, "diskid"),
        );
    }

    pub fn a_twenty_byte_id_has_no_nul() {
        let s = Scratch::new("diskid");
        // mini-kvm names a --disk by its file's name, cut to 20 bytes: all 20 used, no NUL.
        let disk = s.path("disk-with-a-long-name.img");
        let (out, _) = os_with(&["--disk", &disk], "diskid\n0\n");
        expect_eq(
            "`diskid` on --disk .../disk-with-a-long-name.img (an ID of 20 bytes, no NUL)",
            "diskid: disk-with-a-long-nam\n",
            answer(&out, "diskid"),
        );
    }

    pub fn the_device_serves_one_get_id() {
        let (_, trace) = os_with(&["--trace=virtio"], "diskid\n0\n");
        let get_id: Vec<&str> =
            trace.lines().filter(|l| l.contains("VIRTIO_BLK_T_GET_ID")).collect();
        let right = get_id.len() == 1
            && get_id[0].contains("S_OK")
            && get_id[0].contains("+20 W,")
            && get_id[0].ends_with("used 21");
        if !right {
            fail(
                "--trace=virtio during `diskid`: the requests of type GET_ID",
                "one line: VIRTIO_BLK_T_GET_ID ... S_OK ... [1] 0x...+20 W, [2] 0x...+1 W; used 21",
                &get_id.join("\n"),
            );
        }
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=diskid"]
    fn grade_diskid_names_the_built_in_disk() {
        grade(diskid_names_the_built_in_disk)
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=diskid"]
    fn grade_a_twenty_byte_id_has_no_nul() {
        grade(a_twenty_byte_id_has_no_nul)
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=diskid"]
    fn grade_the_device_serves_one_get_id() {
        grade(the_device_serves_one_get_id)
    }
}

/// Lab 10: read-only disks, `--disk FILE,ro` (docs/labs/10-read-only.md).
pub mod read_only {
    use super::*;

    /// A 1K OS disk made by a first run, and its bytes.
    fn os_disk(s: &Scratch) -> (String, Vec<u8>) {
        let disk = s.path("os.img");
        os_with(&["--disk", &disk], "0\n");
        let bytes = std::fs::read(&disk).unwrap_or_default();
        (disk, bytes)
    }

    pub fn the_driver_is_told() {
        let s = Scratch::new("ro-told");
        let (disk, _) = os_disk(&s);
        let (out, _) = os_with(&["--disk", &format!("{disk},ro")], "0\n");
        let line = out.lines().find(|l| l.starts_with("Disk:")).unwrap_or_default();
        if !line.contains("sectors, read-only,") {
            fail(
                "the 1K OS's boot line for --disk FILE,ro (the device offers VIRTIO_BLK_F_RO)",
                "Disk: virtio-blk at 0xd0000000, 8192 sectors, read-only, FLUSH; ...",
                line,
            );
        }
    }

    pub fn the_1k_os_writes_nothing() {
        let s = Scratch::new("ro-os");
        let (disk, before) = os_disk(&s);
        let (out, _) = os_with(&["--disk", &format!("{disk},ro")], "echo hi > f\n0\n");
        expect_eq(
            "`echo hi > f` on --disk FILE,ro",
            "sh: f: read-only file system\n",
            answer(&out, "echo hi > f"),
        );
        if std::fs::read(&disk).ok() != Some(before) {
            fail("the image after that run", "the same bytes as before", "changed bytes");
        }
    }

    pub fn a_driver_that_writes_anyway_gets_ioerr() {
        let s = Scratch::new("ro-rw");
        let disk = s.path("d.img");
        let mut image = vec![0u8; 16 * 512];
        image[..20].copy_from_slice(b"hello from the image");
        std::fs::write(&disk, &image).expect("the temporary directory is writable");
        let r = run_with(
            &["--disk", &format!("{disk},ro"), &test_guest("disk_rw")],
            b"",
            &[],
            Duration::from_secs(60),
        );
        // disk_rw ignores VIRTIO_BLK_F_RO and writes sector 1; statuses: 0 OK, 1 IOERR.
        expect_line(
            "the test guest disk_rw, which writes sector 1 whatever the features say",
            "write 1: 1",
            &r.stdout,
        );
        if std::fs::read(&disk).ok() != Some(image) {
            fail("the image after that run", "the same bytes as before", "changed bytes");
        }
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=read-only"]
    fn grade_the_driver_is_told() {
        grade(the_driver_is_told)
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=read-only"]
    fn grade_the_1k_os_writes_nothing() {
        grade(the_1k_os_writes_nothing)
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=read-only"]
    fn grade_a_driver_that_writes_anyway_gets_ioerr() {
        grade(a_driver_that_writes_anyway_gets_ioerr)
    }
}

/// Every grader, by the name `make grade` shows (`lab::check`): on the tree as it is each one
/// must fail, or a lab would score points for no work (xv6's rule). A check that guards what a
/// solution must not break (a wild address still kills, equals still share the CPU) checks the
/// lab's own work first.
const GRADERS: &[(&str, fn())] = &[
    ("hypercall::prints_two_hex_digits_per_call", hypercall::prints_two_hex_digits_per_call),
    ("hypercall::the_trace_names_the_call", hypercall::the_trace_names_the_call),
    ("syscall::ppid_prints_its_parent", syscall::ppid_prints_its_parent),
    ("syscall::a_background_ppid_too", syscall::a_background_ppid_too),
    (
        "vmprint::the_tree_has_four_levels_and_the_user_pages",
        vmprint::the_tree_has_four_levels_and_the_user_pages,
    ),
    ("vmprint::only_the_user_half_is_printed", vmprint::only_the_user_half_is_printed),
    ("lazy_stack::deep_recursion_gets_its_stack", lazy_stack::deep_recursion_gets_its_stack),
    (
        "lazy_stack::a_wild_address_still_kills_the_program",
        lazy_stack::a_wild_address_still_kills_the_program,
    ),
    (
        "unclaimed::the_class_shows_only_unclaimed_accesses",
        unclaimed::the_class_shows_only_unclaimed_accesses,
    ),
    ("unclaimed::help_and_errors_name_the_class", unclaimed::help_and_errors_name_the_class),
    ("nice::the_lower_nice_value_runs_first", nice::the_lower_nice_value_runs_first),
    ("nice::equals_still_take_turns", nice::equals_still_take_turns),
    ("diskid::diskid_names_the_built_in_disk", diskid::diskid_names_the_built_in_disk),
    ("diskid::a_twenty_byte_id_has_no_nul", diskid::a_twenty_byte_id_has_no_nul),
    ("diskid::the_device_serves_one_get_id", diskid::the_device_serves_one_get_id),
];

/// The labs that start from a patch in docs/labs/start/ (their work ships in the tree): their
/// checks pass on the tree as it is and must fail on a tree with that patch applied, which
/// `make test-labs` makes ([`grade_start_patches_leave_every_grader_failing`]).
pub const NEEDS_THE_START_PATCH: &[(&str, fn())] = &[
    ("pipe::ls_into_wc", pipe::ls_into_wc),
    ("pipe::a_pipeline_of_three", pipe::a_pipeline_of_three),
    ("pipe::the_reader_sees_end_of_file", pipe::the_reader_sees_end_of_file),
    ("pipe::the_writer_sees_the_reader_gone", pipe::the_writer_sees_the_reader_gone),
    ("pipe::ctrl_c_ends_the_whole_pipeline", pipe::ctrl_c_ends_the_whole_pipeline),
    ("locks::a_counter_from_both_cpus_is_exact", locks::a_counter_from_both_cpus_is_exact),
    (
        "locks::acquiring_a_held_lock_panics_naming_it",
        locks::acquiring_a_held_lock_panics_naming_it,
    ),
    (
        "locks::releasing_with_interrupts_on_panics_naming_the_lock",
        locks::releasing_with_interrupts_on_panics_naming_the_lock,
    ),
    (
        "locks::interrupts_stay_off_until_the_last_release",
        locks::interrupts_stay_off_until_the_last_release,
    ),
    ("read_only::the_driver_is_told", read_only::the_driver_is_told),
    ("read_only::the_1k_os_writes_nothing", read_only::the_1k_os_writes_nothing),
    (
        "read_only::a_driver_that_writes_anyway_gets_ioerr",
        read_only::a_driver_that_writes_anyway_gets_ioerr,
    ),
];

/// The checks of `list` that pass (each run with its panic caught, quietly).
fn passing(list: &[(&'static str, fn())]) -> Vec<&'static str> {
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let passed = list
        .iter()
        .filter(|(_, check)| std::panic::catch_unwind(check).is_ok())
        .map(|(name, _)| *name)
        .collect();
    std::panic::set_hook(quiet);
    passed
}

#[test]
fn every_grader_is_in_the_table() {
    // Each `fn grade_NAME` in a lab's module runs the check NAME; GRADERS must list them all.
    let source = include_str!("labs.rs");
    let mut module = "";
    let mut graders = Vec::new();
    for line in source.lines() {
        if let Some(name) = line.strip_prefix("pub mod ").and_then(|l| l.strip_suffix(" {")) {
            module = name;
        }
        if let Some(name) =
            line.trim().strip_prefix("fn grade_").and_then(|l| l.strip_suffix("() {"))
        {
            graders.push(format!("{module}::{name}"));
        }
    }
    let both = GRADERS.iter().chain(NEEDS_THE_START_PATCH);
    let mut listed: Vec<String> = both.map(|(n, _)| n.to_string()).collect();
    graders.retain(|g| !g.ends_with("::start_patches_leave_every_grader_failing"));
    listed.sort();
    graders.sort();
    assert!(graders.len() >= 12, "{graders:?}");
    assert_eq!(listed, graders, "GRADERS and the grade_ tests");
}

#[test]
fn every_grader_fails_on_the_unmodified_tree() {
    let passed = passing(GRADERS);
    assert!(
        passed.is_empty(),
        "these graders pass without the lab's work, so they grade nothing: {passed:?}"
    );
}

/// (Named grade_ so that `make test`, which skips the graders, skips it too.)
#[test]
#[ignore = "make test-labs runs this on a scratch copy with docs/labs/start/*.patch applied"]
fn grade_start_patches_leave_every_grader_failing() {
    let passed = passing(NEEDS_THE_START_PATCH);
    assert!(
        passed.is_empty(),
        "these graders pass on the lab's starting point, so they grade nothing: {passed:?}"
    );
}

#[test]
fn a_failing_grader_says_what_it_expected_next_to_what_it_saw() {
    let said = std::panic::catch_unwind(|| {
        expect_eq("the answer", "ppid: I am pid 2\n", "ppid: unknown command\n")
    });
    let multi = std::panic::catch_unwind(|| expect_line("a line", "b", "x\ny\n"));
    let text = |r: std::thread::Result<()>| *r.unwrap_err().downcast::<String>().unwrap();
    assert_eq!(
        text(said),
        "the answer\n    expected: ppid: I am pid 2\n    seen: ppid: unknown command"
    );
    assert_eq!(text(multi), "a line\n    expected: b\n    seen:\n      x\n      y");
}

/// Runs git in `dir` with a fixed identity (the scratch clones have none).
fn git(dir: &std::path::Path, args: &[&str]) -> String {
    let out = std::process::Command::new("git")
        .args(["-c", "user.name=student", "-c", "user.email=student@example.org"])
        .args(["-c", "safe.directory=*"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn handin_is_one_patch_with_commits_edits_and_new_files() {
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let scratch = std::env::temp_dir().join(format!("mini-kvm-handin-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch).unwrap();
    let (student, teacher) = (scratch.join("student"), scratch.join("teacher"));
    for clone in [&student, &teacher] {
        let to = clone.to_str().unwrap();
        git(&scratch, &["clone", "-q", "--shared", root.to_str().unwrap(), to]);
    }
    // The student commits one change, edits a file without committing, and writes two new
    // files git does not track yet (as lab 2's ppid.c), one of them in a new directory.
    std::fs::write(student.join("os-1k/user/ppid.c"), "int main(void) { return 0; }\n").unwrap();
    std::fs::create_dir_all(student.join("notes")).unwrap();
    std::fs::write(student.join("notes/answers.txt"), "my answers\n").unwrap();
    let readme = student.join("docs/labs/README.md");
    let text = std::fs::read_to_string(&readme).unwrap();
    std::fs::write(&readme, format!("{text}committed\n")).unwrap();
    git(&student, &["commit", "-q", "-am", "lab work"]);
    std::fs::write(&readme, format!("{text}committed\nnot committed\n")).unwrap();
    // Build outputs stay out (.gitignore names target/).
    std::fs::create_dir_all(student.join("target")).unwrap();
    std::fs::write(student.join("target/junk"), "build output").unwrap();
    let out = std::process::Command::new("bash")
        .arg(root.join("docs/labs/handin.sh"))
        .current_dir(&student)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("handin.patch: 3 files changed since "), "{said}");
    assert!(said.contains("2 of them new"), "{said}");
    // The teacher's clone of the handed-out tree takes the one file.
    std::fs::copy(student.join("handin.patch"), scratch.join("handin.patch")).unwrap();
    git(&teacher, &["apply", scratch.join("handin.patch").to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(teacher.join("os-1k/user/ppid.c")).unwrap(),
        "int main(void) { return 0; }\n"
    );
    assert_eq!(std::fs::read_to_string(teacher.join("notes/answers.txt")).unwrap(), "my answers\n");
    assert_eq!(
        std::fs::read_to_string(teacher.join("docs/labs/README.md")).unwrap(),
        format!("{text}committed\nnot committed\n")
    );
    assert!(!teacher.join("target/junk").exists());
    // The student's own index is as it was: the new files are still untracked.
    let status = git(&student, &["status", "--porcelain"]);
    assert!(status.contains("?? os-1k/user/ppid.c"), "{status}");
    std::fs::remove_dir_all(&scratch).unwrap();
}

#[test]
fn a_grader_prints_its_own_words_only_even_with_rust_backtrace_set() {
    // This test binary, asked to run one grader as `make grade` does, with RUST_BACKTRACE=1.
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--ignored", "--exact", "hypercall::grade_prints_two_hex_digits_per_call"])
        .args(["--test-threads=1"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the grader fails on this tree: {text}");
    assert!(
        text.contains(
            "PUTHEX of 0x00, 0x2A, 0xFF then a newline\n    expected: stdout \"002AFF\\n\", \
             status 0, stderr \"\"\n    seen: stdout \"\", status 5, stderr \"mini-kvm: guest \
             fault on vCPU 0 (lab_puthex): unknown hypercall number 0x04"
        ),
        "{text}"
    );
    for noise in ["stack backtrace", "panicked at", "tests/labs.rs:"] {
        assert!(!text.contains(noise), "{noise:?} in {text}");
    }
}
