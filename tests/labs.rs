//! Graders for the labs in docs/labs/ (as xv6's `make grade`): each lab is a module of tests,
//! ignored in `make test` and run by `make grade LAB=name`, which prints a score. On the tree as
//! it is, every grader must fail (the test below checks that, so a grader that passes without
//! the lab's work is caught); with the reference solution in docs/labs/solutions/ applied,
//! every grader must pass (`make test-labs` checks that in a scratch copy, where it runs only
//! the ignored graders, not the check below). A lab whose work the tree ships (the locks) starts
//! from a patch in docs/labs/start/ that takes it out: its graders must fail on a tree with
//! that patch applied, and pass once its solution is applied on top (`make test-labs`, both).

mod common;
use common::*;
use std::time::Duration;

fn os(input: &str) -> String {
    let r = run_with(&["os-1k"], input.as_bytes(), &[], Duration::from_secs(60));
    assert_eq!(r.status, 0, "the 1K OS did not power off cleanly: {}", r.stderr);
    r.stdout
}

/// The text the shell printed for `command`, up to the next prompt.
fn answer<'a>(out: &'a str, command: &str) -> &'a str {
    let start = out
        .find(&format!("$ {command}\n"))
        .unwrap_or_else(|| panic!("no prompt for {command:?} in:\n{out}"))
        + "$ \n".len()
        + command.len();
    let rest = &out[start..];
    &rest[..rest.find("$ ").unwrap_or(rest.len())]
}

/// Lab 1: a PUTHEX hypercall (docs/labs/01-hypercall.md).
pub mod hypercall {
    use super::*;

    pub fn prints_two_hex_digits_per_call() {
        let r = run(&[&test_guest("lab_puthex")]);
        assert_eq!(
            (r.status, r.stdout.as_str(), r.stderr.as_str()),
            (0, "002AFF\n", ""),
            "PUTHEX of 0x00, 0x2A, 0xFF then a newline"
        );
    }

    pub fn the_trace_names_the_call() {
        let r = run(&["--trace=hypercall", &test_guest("lab_puthex")]);
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert!(
            lines.len() >= 3 && lines[..3].iter().all(|l| l.contains("hypercall PUTHEX 0x")),
            "each PUTHEX exit is traced as `hypercall PUTHEX 0xNN`:\n{}",
            r.stderr
        );
        assert!(lines[1].contains("hypercall PUTHEX 0x2a"), "{}", lines[1]);
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=hypercall"]
    fn grade_prints_two_hex_digits_per_call() {
        prints_two_hex_digits_per_call()
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=hypercall"]
    fn grade_the_trace_names_the_call() {
        the_trace_names_the_call()
    }
}

/// Lab 2: a system call, getppid, and a program that uses it (docs/labs/02-syscall.md).
pub mod syscall {
    use super::*;

    pub fn ppid_prints_its_parent() {
        let out = os("ppid\nppid\n0\n");
        assert_eq!(answer(&out, "ppid"), "ppid: I am pid 2, my parent is pid 1\n");
        // The second run is a new process: the pid moves on, the parent is the shell again.
        let second = &out[out.find("pid 2").expect("the first run")..];
        assert!(second.contains("ppid: I am pid 3, my parent is pid 1\n"), "{out}");
    }

    pub fn a_background_ppid_too() {
        let out = os("ppid & wait\n0\n");
        assert!(out.contains("ppid: I am pid 2, my parent is pid 1\n"), "{out}");
        assert!(out.contains("[2] done (status 0)\n"), "{out}");
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=syscall"]
    fn grade_ppid_prints_its_parent() {
        ppid_prints_its_parent()
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=syscall"]
    fn grade_a_background_ppid_too() {
        a_background_ppid_too()
    }
}

/// Lab 3: print a process's page tables (docs/labs/03-vmprint.md).
pub mod vmprint {
    use super::*;

    /// The leaf lines: (virtual address, flags).
    fn leaves(text: &str) -> Vec<(u64, String)> {
        text.lines()
            .filter_map(|l| l.strip_prefix(" .. .. .. .."))
            .map(|l| {
                let (_, rest) = l.split_once(": va 0x").expect("`INDEX: va 0x...`");
                let (va, rest) = rest.split_once(" -> pa 0x").expect("` -> pa 0x...`");
                let (_, flags) = rest.split_once(' ').expect("flags after the address");
                (u64::from_str_radix(va, 16).expect("a hex address"), flags.to_string())
            })
            .collect()
    }

    pub fn the_tree_has_four_levels_and_the_user_pages() {
        let out = os("vmprint\n0\n");
        let text = answer(&out, "vmprint");
        let first = text.lines().next().unwrap_or("");
        assert!(first.starts_with("page table of pid 2 (vmprint), PML4 at physical 0x"), "{text}");
        for prefix in [" ..0: PDPT at 0x", " .. ..0: PD at 0x", " .. .. ..2: PT at 0x"] {
            assert!(text.lines().any(|l| l.starts_with(prefix)), "{prefix:?} in:\n{text}");
        }
        let leaves = leaves(text);
        let vas: Vec<u64> = leaves.iter().map(|l| l.0).collect();
        assert!(vas.contains(&0x40_0000), "the program's first page: {vas:x?}");
        assert!(
            vas.contains(&0x7F_E000) && vas.contains(&0x7F_F000),
            "the two stack pages: {vas:x?}"
        );
        assert!(vas.windows(2).all(|w| w[0] < w[1]), "in address order: {vas:x?}");
        assert!(
            leaves.iter().all(|l| l.1 == "P W U"),
            "user pages are present, writable, user: {leaves:?}"
        );
    }

    pub fn only_the_user_half_is_printed() {
        let out = os("vmprint\n0\n");
        let text = answer(&out, "vmprint");
        assert!(
            !text.lines().any(|l| l.starts_with(" ..511:")),
            "the kernel half (PML4 entry 511) is not the process's: {text}"
        );
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=vmprint"]
    fn grade_the_tree_has_four_levels_and_the_user_pages() {
        the_tree_has_four_levels_and_the_user_pages()
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=vmprint"]
    fn grade_only_the_user_half_is_printed() {
        only_the_user_half_is_printed()
    }
}

/// Lab 4: stacks that grow on demand (docs/labs/04-lazy-stack.md).
pub mod lazy_stack {
    use super::*;

    pub fn deep_recursion_gets_its_stack() {
        let out = os("deep\n0\n");
        assert_eq!(
            answer(&out, "deep"),
            "deep: going 100 calls down\ndeep: 100 calls down and back up\n"
        );
    }

    pub fn a_wild_address_still_kills_the_program() {
        let out = os("fault\n0\n");
        assert!(
            out.contains("[kernel] pid 2 (fault): page fault (#PF) at address 0xffffffff80100000"),
            "only the stack grows: {out}"
        );
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=lazy-stack"]
    fn grade_deep_recursion_gets_its_stack() {
        deep_recursion_gets_its_stack()
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=lazy-stack"]
    fn grade_a_wild_address_still_kills_the_program() {
        a_wild_address_still_kills_the_program()
    }
}

/// Lab 5: a `--trace` class for what no device claims (docs/labs/05-unclaimed.md).
pub mod unclaimed {
    use super::*;

    pub fn the_class_shows_only_unclaimed_accesses() {
        let r = run(&["--trace=unclaimed", &test_guest("lab_unclaimed")]);
        assert_eq!(
            (r.status, r.stdout.as_str()),
            (0, "ok\n"),
            "the guest runs as without the trace: {}",
            r.stderr
        );
        let lines: Vec<&str> = r.stderr.lines().collect();
        let expected = [
            ("in  0x0070", "no device (CMOS RTC): reads all ones"),
            ("out 0x0080", "no device (POST diagnostic): write ignored"),
            ("read 0xffff0", "no device: reads all ones"),
        ];
        assert_eq!(
            lines.len(),
            expected.len(),
            "one line per unclaimed access, nothing else:\n{}",
            r.stderr
        );
        for (line, (raw, words)) in lines.iter().zip(expected) {
            assert!(
                line.contains(raw) && line.contains(words),
                "{raw:?} and {words:?} in {line:?}"
            );
        }
        // The exits keep their numbers: #3 is the hypercall the class leaves out.
        assert!(lines[2].starts_with("[0] #4 "), "{}", lines[2]);
    }

    pub fn help_and_errors_name_the_class() {
        let help = run(&["--help"]);
        assert!(help.stdout.contains("unclaimed"), "--help lists the classes:\n{}", help.stdout);
        let r = run(&["--trace=bogus", "hello"]);
        assert!(r.stderr.contains("debug, unclaimed, all)"), "the known classes: {}", r.stderr);
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=unclaimed"]
    fn grade_the_class_shows_only_unclaimed_accesses() {
        the_class_shows_only_unclaimed_accesses()
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=unclaimed"]
    fn grade_help_and_errors_name_the_class() {
        help_and_errors_name_the_class()
    }
}

/// Lab 6: a scheduler with priorities, and the nice system call (docs/labs/06-nice.md).
pub mod nice {
    use super::*;

    pub fn the_lower_nice_value_runs_first() {
        let out = os("nice\n0\n");
        assert_eq!(
            answer(&out, "nice"),
            "nice: L (pid 3) at nice 5, H (pid 4) at nice 0\n\
             HHHHHHHHHHHHLLLLLLLLLLLL\n\
             nice: refused: nice 11 -> -1, no such process -> -1\n"
        );
    }

    pub fn equals_still_take_turns() {
        let out = os("preempt\n0\n");
        let letters = answer(&out, "preempt")
            .lines()
            .find(|l| l.starts_with('A') || l.starts_with('B'))
            .unwrap_or_else(|| panic!("the letters in:\n{out}"));
        let switches = letters.as_bytes().windows(2).filter(|w| w[0] != w[1]).count();
        assert!(switches >= 3, "two spinners at the same nice value share the CPU: {letters}");
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=nice"]
    fn grade_the_lower_nice_value_runs_first() {
        the_lower_nice_value_runs_first()
    }

    #[test]
    #[ignore = "lab grader: make grade LAB=nice"]
    fn grade_equals_still_take_turns() {
        equals_still_take_turns()
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
        // Two CPUs: under QEMU, until mini-kvm runs one kernel on several vCPUs.
        let mut s = Interactive::qemu("sockets=2");
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

/// The checks that need the lab's own work, each of which must fail on the tree as it is.
/// (Checks that guard what a solution must not break, like the wild address above, pass.)
const NEEDS_THE_LAB: &[(&str, fn())] = &[
    ("hypercall::prints_two_hex_digits_per_call", hypercall::prints_two_hex_digits_per_call),
    ("hypercall::the_trace_names_the_call", hypercall::the_trace_names_the_call),
    ("syscall::ppid_prints_its_parent", syscall::ppid_prints_its_parent),
    ("syscall::a_background_ppid_too", syscall::a_background_ppid_too),
    (
        "vmprint::the_tree_has_four_levels_and_the_user_pages",
        vmprint::the_tree_has_four_levels_and_the_user_pages,
    ),
    ("lazy_stack::deep_recursion_gets_its_stack", lazy_stack::deep_recursion_gets_its_stack),
    (
        "unclaimed::the_class_shows_only_unclaimed_accesses",
        unclaimed::the_class_shows_only_unclaimed_accesses,
    ),
    ("unclaimed::help_and_errors_name_the_class", unclaimed::help_and_errors_name_the_class),
    ("nice::the_lower_nice_value_runs_first", nice::the_lower_nice_value_runs_first),
    ("pipe::ls_into_wc", pipe::ls_into_wc),
    ("pipe::a_pipeline_of_three", pipe::a_pipeline_of_three),
    ("pipe::the_reader_sees_end_of_file", pipe::the_reader_sees_end_of_file),
    ("pipe::the_writer_sees_the_reader_gone", pipe::the_writer_sees_the_reader_gone),
    ("pipe::ctrl_c_ends_the_whole_pipeline", pipe::ctrl_c_ends_the_whole_pipeline),
];

/// The labs that start from a patch in docs/labs/start/ (their work ships in the tree): their
/// checks must fail on a tree with that patch applied, which `make test-labs` makes.
pub const NEEDS_THE_START_PATCH: &[(&str, fn())] = &[
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
];

/// The checks of `list` that pass (each run with its panic caught).
fn passing(list: &[(&'static str, fn())]) -> Vec<&'static str> {
    let quiet = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let passed: Vec<&str> = list
        .iter()
        .filter(|(_, check)| std::panic::catch_unwind(check).is_ok())
        .map(|(name, _)| *name)
        .collect();
    std::panic::set_hook(quiet);
    passed
}

#[test]
fn every_grader_fails_on_the_unmodified_tree() {
    let passed = passing(NEEDS_THE_LAB);
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
