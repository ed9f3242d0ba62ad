//! The 1K OS under mini-kvm (and under QEMU): boot, the menu programs and their arguments,
//! files written and read back, descriptors and redirections, the shell's parsing, line
//! editing and jobs, Ctrl-C and Ctrl-D, end of input, a ring-3 fault, preemption. (Pipelines
//! need lab 7's pipe system call: tests/labs.rs grades them.)

mod common;
use common::*;
use std::time::Duration;

/// Runs the OS with `input`; asserts a clean power-off and returns stdout.
fn os(input: &str) -> String {
    let r = run_with(&["os-1k"], input.as_bytes(), &[], Duration::from_secs(60));
    assert_eq!(r.status, 0, "stderr: {}\nstdout: {}", r.stderr, r.stdout);
    assert_eq!(r.stderr, "");
    r.stdout
}

const MENU: &str = "\n=== 1K OS Menu ===\n1. Multiplication Table\n2. Counter\n3. Echo\n\
    4. Fibonacci\n5. Primes\n6. Calculator\n7. Factorial\n8. GCD\n9. About\n0. Exit\n";

/// The output from the shell's first prompt on, with the menus taken out.
fn session(out: &str) -> String {
    let start = out.find("\n$ ").expect("a prompt") + 1;
    out[start..].split(MENU).collect()
}

/// What the shell printed for `command`, up to the next prompt.
fn answer<'a>(out: &'a str, command: &str) -> &'a str {
    let start = out
        .find(&format!("$ {command}\n"))
        .unwrap_or_else(|| panic!("no prompt for {command:?} in:\n{out}"))
        + command.len()
        + 3;
    let rest = &out[start..];
    &rest[..rest.find("$ ").unwrap_or(rest.len())]
}

const TABLE: &str = "\n=== Multiplication Table ===\n\
2*1=2 2*2=4 2*3=6 2*4=8 2*5=10 2*6=12 2*7=14 2*8=16 2*9=18 \n\
3*1=3 3*2=6 3*3=9 3*4=12 3*5=15 3*6=18 3*7=21 3*8=24 3*9=27 \n\
4*1=4 4*2=8 4*3=12 4*4=16 4*5=20 4*6=24 4*7=28 4*8=32 4*9=36 \n\
5*1=5 5*2=10 5*3=15 5*4=20 5*5=25 5*6=30 5*7=35 5*8=40 5*9=45 \n\
6*1=6 6*2=12 6*3=18 6*4=24 6*5=30 6*6=36 6*7=42 6*8=48 6*9=54 \n\
7*1=7 7*2=14 7*3=21 7*4=28 7*5=35 7*6=42 7*7=49 7*8=56 7*9=63 \n\
8*1=8 8*2=16 8*3=24 8*4=32 8*5=40 8*6=48 8*7=56 8*8=64 8*9=72 \n\
9*1=9 9*2=18 9*3=27 9*4=36 9*5=45 9*6=54 9*7=63 9*8=72 9*9=81 \n";

/// The files the built-in disk starts with, counted as os-1k/build.rs lays them out: every text
/// in os-1k/files/ and every user/NAME.c but the library's (ulib.c, edit.c), each a program.
fn built_in_files() -> usize {
    let count = |dir: &str, keep: &dyn Fn(&str) -> bool| {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
        std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter(|name| keep(name))
            .count()
    };
    let library = ["ulib.c", "edit.c"];
    count("os-1k/files", &|_| true)
        + count("os-1k/user", &|n| n.ends_with(".c") && !library.contains(&n))
}

const GOODBYE: &str = "\nExiting shell...\nThank you for using 1K OS!\n";

#[test]
fn boots_runs_the_table_and_powers_off() {
    let out = os("1\n0\n");
    let file_system = format!("File system: {} files, ", built_in_files());
    for line in [
        "=== 1K OS x86-64 ===",
        "Booting in Long Mode with 4-level paging...",
        "Memory: 32 MiB of RAM (Multiboot memory map)",
        "Interrupt handlers registered",
        &file_system,
        "Created idle process (pid=0)",
        "Created shell process (pid=1)",
        "Timer: PIT channel 0 at 100 Hz",
        "=== Kernel Initialization Complete ===",
        "Starting shell process (PID 1)...",
    ] {
        assert!(out.lines().any(|l| l.starts_with(line)), "boot log line {line:?} missing:\n{out}");
    }
    assert!(out.contains(
        "\n======================================\n   Welcome to 1K OS Shell!\n   \
         Mini-KVM Educational Hypervisor\n======================================\n"
    ));
    assert!(out.contains(MENU), "the menu comes before the first prompt");
    assert_eq!(session(&out), format!("$ 1\n{TABLE}$ 0\n{GOODBYE}"));
}

#[test]
fn every_menu_program_prints_its_output_right_for_64_bits() {
    let out = session(&os("2\n4\n5\n7\n8\n0\n"));
    let factorials: String = [
        "1",
        "1",
        "2",
        "6",
        "24",
        "120",
        "720",
        "5040",
        "40320",
        "362880",
        "3628800",
        "39916800",
        "479001600",
        "6227020800",
        "87178291200",
        "1307674368000",
        "20922789888000",
        "355687428096000",
        "6402373705728000",
        "121645100408832000",
        "2432902008176640000",
    ]
    .iter()
    .enumerate()
    .map(|(n, f)| format!("{n}! = {f}\n"))
    .collect();
    let expected = format!(
        "$ 2\n\n=== Counter 0-9 ===\n0 1 2 3 4 5 6 7 8 9 \n\
        $ 4\n\n=== Fibonacci Sequence (first 15 numbers) ===\n\
        F(0) = 0\nF(1) = 1\nF(2) = 1\nF(3) = 2\nF(4) = 3\nF(5) = 5\nF(6) = 8\nF(7) = 13\n\
        F(8) = 21\nF(9) = 34\nF(10) = 55\nF(11) = 89\nF(12) = 144\nF(13) = 233\nF(14) = 377\n\
        $ 5\n\n=== Prime Numbers up to 100 ===\n2 3 5 7 11 13 17 19 23 29 \n\
        31 37 41 43 47 53 59 61 67 71 \n73 79 83 89 97 \nTotal: 25 primes\n\
        $ 7\n\n=== Factorial Calculator ===\nCalculating factorials for n = 0 to 20\n\n\
        {factorials}\nNote: 21! = 51090942171709440000 does not fit in 64 bits\n\
        $ 8\n\n=== GCD (Greatest Common Divisor) ===\nExamples of Euclidean algorithm:\n\n\
        GCD(48, 18) = 6\nGCD(100, 75) = 25\nGCD(123, 456) = 3\nGCD(17, 19) = 1\n\
        GCD(1071, 462) = 21\n$ 0\n{GOODBYE}"
    );
    assert_eq!(out, expected);
}

#[test]
fn programs_take_their_arguments_and_refuse_bad_ones() {
    let out = os("fib 5\nfact 3\ngcd 12 18\nprimes 50\nspin A 3\nmult 3\ncounter 3\n\
         calc 12 + 5\necho hello   world\nfib 94\nfib 95\nfact 21\ngcd 1\nspin\nprimes x\n0\n");
    assert_eq!(
        answer(&out, "fib 5"),
        "\n=== Fibonacci Sequence (first 5 numbers) ===\n\
         F(0) = 0\nF(1) = 1\nF(2) = 1\nF(3) = 2\nF(4) = 3\n"
    );
    assert_eq!(answer(&out, "fact 3"), "3! = 6\n");
    assert_eq!(answer(&out, "gcd 12 18"), "GCD(12, 18) = 6\n");
    assert_eq!(
        answer(&out, "primes 50"),
        "\n=== Prime Numbers up to 50 ===\n2 3 5 7 11 13 17 19 23 29 \n31 37 41 43 47 \n\
         Total: 15 primes\n"
    );
    assert_eq!(answer(&out, "spin A 3"), "AAA");
    assert_eq!(
        answer(&out, "mult 3"),
        "\n=== Multiplication Table ===\n2*1=2 2*2=4 2*3=6 \n3*1=3 3*2=6 3*3=9 \n"
    );
    assert_eq!(answer(&out, "counter 3"), "\n=== Counter 0-2 ===\n0 1 2 \n");
    assert_eq!(answer(&out, "calc 12 + 5"), "Result: 17\n");
    assert_eq!(answer(&out, "echo hello   world"), "hello world\n");
    // 64 bits: F(93) is the last Fibonacci number that fits.
    assert!(answer(&out, "fib 94").ends_with("F(93) = 12200160415121876738\n"), "{out}");
    for (command, usage) in [
        ("fib 95", "usage: fib [N]: the first N Fibonacci numbers, N from 1 to 94\n"),
        ("fact 21", "usage: fact [N]: N! for N from 0 to 20 (21! does not fit in 64 bits)\n"),
        ("gcd 1", "usage: gcd [A B]: the greatest common divisor of two positive numbers\n"),
        ("spin", "usage: spin LETTER [COUNT]: prints LETTER COUNT times, 30 ms apart\n"),
        ("primes x", "usage: primes [N]: the primes up to N, N from 2 to 100000\n"),
    ] {
        assert_eq!(answer(&out, command), usage);
    }
}

#[test]
fn echo_and_calculator_with_the_seeds_inputs() {
    let long = "y".repeat(70);
    let input = format!(
        "3\nhello\n{long}\nquit\n6\n12 + 5\n-7 * 3\n100/7\n12+\n9 / 0\n7 % 2\nabc\nquit\nq\n0\n"
    );
    let out = session(&os(&input));
    let cut = "y".repeat(63);
    let expected = format!(
        "$ 3\n\n=== Echo Program (type 'quit' to exit) ===\necho> hello\nEcho: hello\n\
         echo> {long}\nWarning: Input truncated to 63 characters\nEcho: {cut}\necho> quit\n\
         Exiting echo program\n\
         $ 6\n\n=== Simple Calculator ===\nEnter two numbers and operator (+, -, *, /)\n\
         Example: 12 + 5\nType 'q' to quit\n\n\
         Calculate: 12 + 5\nResult: 17\nCalculate: -7 * 3\nResult: -21\n\
         Calculate: 100/7\nResult: 14\nCalculate: 12+\nResult: 12\n\
         Calculate: 9 / 0\nError: Division by zero\nCalculate: 7 % 2\nError: Invalid operator\n\
         Calculate: abc\nError: Invalid operator\nCalculate: quit\nError: Invalid operator\n\
         Calculate: q\nExiting calculator\n$ 0\n{GOODBYE}"
    );
    assert_eq!(out, expected);
}

#[test]
fn the_end_of_input_ends_the_shell_as_if_0_was_chosen() {
    let out = session(&os("1\n"));
    assert_eq!(out, format!("$ 1\n{TABLE}$ {GOODBYE}"));
    // Also in the middle of a program: echoloop ends, then the shell.
    let out = session(&os("3\nbye"));
    assert!(out.ends_with(&format!("echo> bye\nEcho: bye\necho> $ {GOODBYE}")), "{out}");
    // A last line without its newline still runs.
    let out = session(&os("echo last"));
    assert_eq!(out, format!("$ echo last\nlast\n$ {GOODBYE}"));
}

#[test]
fn files_are_written_appended_overwritten_and_removed() {
    let out = os("echo hello > f\ncat f\necho world >> f\ncat f\nls f\nmult 3 > f\ncat f\n\
         wc < f\necho short > f\ncat f\nrm f\ncat f\nls f\nrm f\ncat < f\n0\n");
    assert_eq!(answer(&out, "echo hello > f"), "");
    assert_eq!(answer(&out, "cat f"), "hello\n");
    let after_append = &out[out.find("$ echo world >> f\n").expect("the append")..];
    assert_eq!(answer(after_append, "cat f"), "hello\nworld\n");
    assert_eq!(answer(&out, "ls f"), "f                  12\n");
    let after_mult = &out[out.find("$ mult 3 > f\n").expect("the overwrite")..];
    let table = "\n=== Multiplication Table ===\n2*1=2 2*2=4 2*3=6 \n3*1=3 3*2=6 3*3=9 \n";
    assert_eq!(answer(after_mult, "cat f"), table);
    assert_eq!(answer(&out, "wc < f"), "4 10 68\n");
    let after_short = &out[out.find("$ echo short > f\n").expect("the truncation")..];
    assert_eq!(answer(after_short, "cat f"), "short\n");
    let after_rm = &out[out.find("$ rm f\n").expect("rm")..];
    assert_eq!(answer(after_rm, "cat f"), "cat: f: no such file\n");
    assert_eq!(answer(after_rm, "ls f"), "ls: f: no such file\n");
    let second_rm = &after_rm[5..];
    assert_eq!(answer(second_rm, "rm f"), "rm: f: no such file\n");
    assert_eq!(answer(&out, "cat < f"), "sh: f: no such file\n");
}

#[test]
fn the_directory_holds_64_files_and_then_says_so() {
    // The built-in files and as many more fill the disk's 64 inodes; one more is refused.
    let room = 64 - built_in_files();
    let names: Vec<String> = (1..=room + 1).map(|i| format!("f{i}")).collect();
    let lines: String = names
        .chunks(6)
        .map(|c| {
            let cmds: Vec<String> = c.iter().map(|n| format!("echo > {n}")).collect();
            cmds.join("; ") + "\n"
        })
        .collect();
    let refused = &names[room];
    let out = os(&format!("{lines}rm f1\necho > {refused}\nls {refused}\n0\n"));
    let last_line = names.chunks(6).last().map(|c| c.iter().map(|n| format!("echo > {n}")));
    let last_line = last_line.expect("at least one name").collect::<Vec<_>>().join("; ");
    assert_eq!(answer(&out, &last_line), format!("sh: {refused}: no space left on the disk\n"));
    assert_eq!(answer(&out, &format!("ls {refused}")), format!("{refused:<19} 1\n"), "{out}");
}

#[test]
fn a_file_of_several_blocks_is_copied_whole() {
    // cat writes 8 KiB at a time; a file takes at most 4 KiB per write (a short write), each a
    // copy-on-write of one or two blocks and one inode write.
    let out = os("cat shell > copy\nwc shell\nwc copy\nls copy\nrm copy\n0\n");
    let original = answer(&out, "wc shell").replace(" shell\n", "");
    assert_eq!(answer(&out, "wc copy"), format!("{original} copy\n"));
    let size = original.split(' ').nth(2).expect("a byte count");
    assert!(size.parse::<u32>().unwrap() > 8192, "{original}");
    assert!(answer(&out, "ls copy").ends_with(&format!(" {size}\n")), "{out}");
}

#[test]
fn the_small_programs_combine_through_files() {
    let out = os("grep KVM readme.txt\ngrep nothing readme.txt\nhead -n 2 readme.txt\n\
         head -n 1 < motd\nwc motd readme.txt\nls motd readme.txt\npwd\n\
         echo 'two  spaces' \"and more\"\n0\n");
    assert_eq!(
        answer(&out, "grep KVM readme.txt"),
        "KVM runs the kernel and its programs; mini-kvm gives them a UART and a disk.\n"
    );
    assert_eq!(answer(&out, "grep nothing readme.txt"), "");
    assert_eq!(
        answer(&out, "head -n 2 readme.txt"),
        "The 1K OS keeps its files on a disk: 4 MiB, one directory, at most 64 files.\n\
         Programs are files too: the shell reads each from the disk to run it.\n"
    );
    assert_eq!(answer(&out, "head -n 1 < motd"), "Welcome to 1K OS, running on mini-kvm.\n");
    assert_eq!(answer(&out, "wc motd readme.txt"), "3 27 153 motd\n5 71 349 readme.txt\n");
    assert_eq!(
        answer(&out, "ls motd readme.txt"),
        "motd              153\nreadme.txt        349\n"
    );
    assert_eq!(answer(&out, "pwd"), "/\n");
    assert_eq!(answer(&out, "echo 'two  spaces' \"and more\""), "two  spaces and more\n");
}

#[test]
fn the_shell_parses_and_refuses_what_it_cannot_run() {
    let out = os("ls |\n| wc\n> f\ncat <\necho 'open\nhistory > f\ncd\nlss\n10\n\
         echo a; echo b ;; echo c\n0\n");
    for (command, error) in [
        ("ls |", "sh: a command is missing at the end\n"),
        ("| wc", "sh: a command is missing before |\n"),
        ("> f", "sh: a command is missing at the end\n"),
        ("cat <", "sh: a file name must follow <\n"),
        ("echo 'open", "sh: no closing '\n"),
        (
            "history > f",
            "history: a shell built-in: not in a pipeline, redirected or in the background\n",
        ),
        ("cd", "cd: there is one directory, /\n"),
        ("lss", "lss: unknown command (try help)\n"),
        ("10", "10: unknown command (try help)\n"),
        ("echo a; echo b ;; echo c", "a\nb\nc\n"),
    ] {
        assert_eq!(answer(&out, command), error, "{out}");
    }
    // A pipeline: wc counts what echo wrote into the pipe (tests/labs.rs has the pipe lab's
    // checks, which fail on its starting point, without pipe.c).
    let out = os("echo one two | wc\n0\n");
    assert_eq!(answer(&out, "echo one two | wc"), "1 2 8\n");
}

#[test]
fn the_line_editor_erases_recalls_and_repeats() {
    let out = session(&os("ecx\x7fho hi\njunk\x15pwd\necho one\n\x1b[A\n!!\nhistory\n\
         abc\x03pwd\n\x1b[A\x1b[A\x1b[B\n0\n"));
    let expected = format!(
        "$ ecx\x08 \x08ho hi\nhi\n\
         $ junk\x08 \x08\x08 \x08\x08 \x08\x08 \x08pwd\n/\n\
         $ echo one\none\n\
         $ echo one\none\n\
         $ !!\necho one\none\n\
         $ history\n    1  echo hi\n    2  pwd\n    3  echo one\n    4  history\n\
         $ abc^C\n\
         $ pwd\n/\n\
         $ pwd\x08 \x08\x08 \x08\x08 \x08history\x08 \x08\x08 \x08\x08 \x08\x08 \x08\x08 \x08\x08 \x08\x08 \x08pwd\n/\n\
         $ 0\n{GOODBYE}"
    );
    assert_eq!(out, expected);
}

#[test]
fn ctrl_d_ends_a_programs_input_and_the_console_edits_its_lines() {
    // cat reads the console through the kernel's line discipline: echo, Backspace, Ctrl-U,
    // arrow keys ignored; Ctrl-D at the start of a line is the end of its input.
    let out = session(&os("cat\nhelo\x7flo\nxx\x15\x1b[Aok\n\x04pwd\n0\n"));
    assert_eq!(
        out,
        format!(
            "$ cat\nhelo\x08 \x08lo\nhello\nxx\x08 \x08\x08 \x08ok\nok\n$ pwd\n/\n$ 0\n{GOODBYE}"
        )
    );
}

#[test]
fn a_background_job_reads_end_of_input_and_is_reported() {
    // The job's `cat` reads the console while it is not in the foreground: end of input at
    // once, so the next line is the shell's. (A background spin's letters come whenever the
    // scheduler runs it: they are left out of the comparison.)
    // `&` and `wait` on one line: the job is reported by wait, whenever it ended.
    let out = session(&os("cat & wait\necho after\nspin A 2 & wait 9; wait\n0\n"));
    assert_eq!(out.matches('A').count(), 4, "{out}");
    assert_eq!(
        out.replace('A', ""),
        format!(
            "$ cat & wait\n[2] cat\n[2] done (status 0)\n$ echo after\nafter\n\
             $ spin  2 & wait 9; wait\n[4] spin  2\nwait: 9: no such job\n[4] done (status 0)\n\
             $ 0\n{GOODBYE}"
        )
    );
}

#[test]
fn a_fault_in_ring_3_kills_only_that_process() {
    let out = session(&os("fault\n1\n0\n"));
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines.iter().any(|l| l.starts_with(
            "[kernel] pid 2 (fault): page fault (#PF) at address 0xffffffff80100000, rip 0x"
        ) && l.ends_with(": process killed")),
        "{out}"
    );
    assert!(out.contains(": process killed\n[2] killed\n$ 1\n"), "{out}");
    assert!(out.contains(TABLE), "the shell goes on");
    assert!(out.ends_with(GOODBYE));
}

#[test]
fn preempt_ps_uptime_ls_and_cat() {
    let out = session(&os("uptime\npreempt\nps\nuptime\nls\ncat motd\n9\n0\n"));
    // preempt: both letters, alternating several times.
    let letters: String = out
        .lines()
        .find(|l| l.starts_with('A') || l.starts_with('B'))
        .expect("the letters")
        .to_string();
    assert_eq!(letters.matches('A').count(), 12, "{letters}");
    assert_eq!(letters.matches('B').count(), 12, "{letters}");
    let switches = letters.as_bytes().windows(2).filter(|w| w[0] != w[1]).count();
    assert!(switches >= 4, "only {switches} switches: {letters}");
    // ps: the idle process, the shell (waiting for ps, or not yet asleep), ps itself, all on
    // the one CPU.
    let ps = answer(&out, "ps");
    let shell_waits = "    1     0     1    0  sleeping  shell\n";
    let shell_runnable = "    1     0     1    0  runnable  shell\n";
    assert!(
        ps.starts_with(
            "  PID  PPID  PGID  CPU  STATE     NAME\n    0     0     0    0  runnable  idle\n"
        ) && (ps.contains(shell_waits) || ps.contains(shell_runnable))
            && ps.ends_with("    6     1     6    0  running   ps\n"),
        "{ps}"
    );
    // uptime advances.
    let uptimes: Vec<f64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Uptime: "))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(uptimes.len(), 2);
    assert!(uptimes[1] > uptimes[0], "{uptimes:?}");
    // ls lists the file system with sizes; cat prints a file.
    let ls = answer(&out, "ls");
    for file in ["motd", "readme.txt", "shell", "mult", "spin", "preempt", "ls", "wc"] {
        assert!(
            ls.lines().any(|l| l.starts_with(&format!("{file} "))
                && l.split_whitespace().nth(1).is_some_and(|n| n.parse::<u32>().is_ok())),
            "ls: {file} with its size in:\n{ls}"
        );
    }
    assert_eq!(ls.lines().count(), built_in_files(), "{ls}");
    assert_eq!(
        answer(&out, "cat motd"),
        "Welcome to 1K OS, running on mini-kvm.\n\
         Everything you see is printed by ring-3 programs through `int 0x80`,\n\
         loaded from a disk by a small 64-bit kernel.\n"
    );
    assert!(out.contains("=== About 1K OS ==="));
}

#[test]
fn kill_ends_a_background_job_and_the_shell_reports_it() {
    // Its letters and the kernel's line come when the scheduler runs it, so only their
    // presence counts.
    let out = session(&os("spin A 100000 &\nps\nkill 2; wait 2\nkill 2\nkill 1\n0\n"));
    assert!(out.contains("[2] spin A 100000\n"), "{out}");
    assert!(
        out.contains("    2     1     2    0  runnable  spin\n")
            || out.contains("    2     1     2    0  sleeping  spin\n"),
        "{out}"
    );
    assert!(out.contains("[kernel] pid 2 (spin): killed\n"), "{out}");
    assert!(out.contains("[2] killed\n$ kill 2\n"), "wait reports it: {out}");
    assert!(out.contains("$ kill 2\nkill: 2: no such process\n"), "{out}");
    assert!(out.contains("$ kill 1\nkill: 1: no such process\n"), "{out}");
    assert!(out.ends_with(GOODBYE), "{out}");
}

#[test]
fn ctrl_c_ends_the_foreground_job_never_the_shell_nor_a_background_job() {
    let mut s = Interactive::start(&["--timeout", "60", "os-1k"], "\n$ ");
    // One process.
    s.send("spin A 100000\n");
    s.expect("spin A 100000\nA");
    s.send("\x03");
    s.expect("^C\n[kernel] pid 2 (spin): killed\n[2] killed\n$ ");
    // A job of three processes: preempt and the two spinners it started, one group.
    s.send("preempt\n");
    s.expect("never yield:\n");
    s.expect("B");
    s.send("\x03");
    s.expect("[3] killed\n$ ");
    // A background job (its letters go to a file) goes on while the foreground one ends.
    s.send("spin C 100000 > c &\n");
    s.expect("[6] spin C 100000 > c\n$ ");
    s.send("spin D 100000\n");
    s.expect("spin D 100000\nD");
    s.send("\x03");
    s.expect("[7] killed\n$ ");
    s.send("ps\n");
    s.expect("running   ps\n$ ");
    s.send("kill 6; wait 6\n");
    s.expect("[6] killed\n$ ");
    // At the prompt, Ctrl-C cancels the line being typed.
    s.send("abc\x03");
    s.expect("abc^C\n$ ");
    s.send("wc c\n");
    let out = s.finish();
    for (pid, name) in [(3, "preempt"), (4, "spin"), (5, "spin")] {
        assert!(out.contains(&format!("[kernel] pid {pid} ({name}): killed\n")), "{out}");
    }
    let ps = &out[out.rfind("  PID  PPID").expect("ps")..];
    assert!(
        ps.contains("    6     1     6    0  runnable  spin\n")
            || ps.contains("    6     1     6    0  sleeping  spin\n"),
        "the background job survived Ctrl-C: {ps}"
    );
    assert!(!ps.contains("preempt") && !ps.contains("    7 "), "{ps}");
    // The background job wrote its letters while the rest went on.
    let wc = answer(&out, "wc c");
    let letters: u32 = wc.split(' ').nth(2).and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(letters > 0 && wc == format!("0 1 {letters} c\n"), "{wc}");
    assert!(out.ends_with(GOODBYE), "the shell survived: {out}");
}

#[test]
fn a_bad_option_still_exits_cleanly_and_exits_are_counted() {
    let r = run_with(&["--stats", "os-1k"], b"0\n", &[], Duration::from_secs(30));
    assert_eq!(r.status, 0);
    assert!(r.stderr.contains("KVM_EXIT_IO (out)"), "{}", r.stderr);
}

#[test]
fn the_whole_session_reads_the_same_with_and_without_coalescing() {
    let input = b"1\n2\n4\n9\nls\ncat readme.txt\nb\n0\n";
    let limit = Duration::from_secs(60);
    let with = run_with(&["--stats", "os-1k"], input, &[], limit);
    let without = run_with(&["--stats", "--no-coalesce", "os-1k"], input, &[], limit);
    assert_eq!((with.status, without.status), (0, 0), "{}", with.stderr);
    assert_eq!(with.stdout, without.stdout);
    assert!(with.stdout.contains("=== 1K OS Menu ==="));
    assert!(!without.stderr.contains("coalesced"), "{}", without.stderr);
    // The boot log alone is more than the 512 THR writes after which the ring takes over.
    assert_eq!(
        with.stderr.contains("coalesced writes (COM1)"),
        host().is("coalesced-pio", "yes"),
        "{}",
        with.stderr
    );
}

#[test]
#[ignore = "needs qemu-system-x86_64: `make test` installs it and runs this (or: cargo test -- --include-ignored)"]
fn the_same_kernel_boots_under_qemu() {
    let mut qemu = Interactive::qemu("1");
    // Under QEMU `int 0x80` goes through the IDT gate: the shell's output proves system calls.
    qemu.send("1\n");
    qemu.expect("9*9=81 \n");
    // The file system is the image linked into the kernel.
    assert_eq!(qemu.command("wc readme.txt"), "5 71 349 readme.txt\n");
    // 0 powers off through QEMU's ACPI port: QEMU exits by itself, with status 0.
    qemu.send("0\n");
    let seen = qemu.finish();
    assert!(seen.contains("=== 1K OS x86-64 ===") && seen.contains(TABLE), "{seen}");
    assert!(
        seen.contains(&format!("File system: {} files, ", built_in_files()))
            && seen.contains("on the image linked into the kernel"),
        "{seen}"
    );
}
