//! The 1K OS under mini-kvm (and under QEMU): boot, every menu program, the shell commands,
//! end of input, a ring-3 fault, preemption.

mod common;
use common::*;
use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Runs the OS with `input`; asserts a clean power-off and returns stdout.
fn os(input: &str) -> String {
    let r = run_with(&["os-1k"], input.as_bytes(), &[], Duration::from_secs(30));
    assert_eq!(r.status, 0, "stderr: {}\nstdout: {}", r.stderr, r.stdout);
    assert_eq!(r.stderr, "");
    r.stdout
}

/// The output after the shell's first prompt, with the menus taken out.
fn session(out: &str) -> String {
    let start = out.find("Select: ").expect("a prompt");
    out[start..]
        .split(
            "\n=== 1K OS Menu ===\n1. Multiplication Table\n2. Counter\n3. Echo\n4. Fibonacci\n\
                5. Primes\n6. Calculator\n7. Factorial\n8. GCD\n9. About\n0. Exit\n",
        )
        .collect()
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

const GOODBYE: &str = "\nExiting shell...\nThank you for using 1K OS!\n";

#[test]
fn boots_runs_the_table_and_powers_off() {
    let out = os("1\n0\n");
    for line in [
        "=== 1K OS x86-64 ===",
        "Booting in Long Mode with 4-level paging...",
        "Memory: 32 MiB of RAM (Multiboot memory map)",
        "Interrupt handlers registered",
        "Filesystem initialized: 16 files in the archive",
        "Created idle process (pid=0)",
        "Created shell process (pid=1)",
        "Timer: PIT channel 0 at 100 Hz",
        "=== Kernel Initialization Complete ===",
        "Starting shell process (PID 1)...",
    ] {
        assert!(
            out.lines().any(|l| l.starts_with(line)),
            "boot log line {line:?} missing:\n{out}"
        );
    }
    assert!(out.contains(
        "\n======================================\n   Welcome to 1K OS Shell!\n   \
         Mini-KVM Educational Hypervisor\n======================================\n"
    ));
    assert_eq!(
        session(&out),
        format!("Select: 1\n{TABLE}Select: 0\n{GOODBYE}")
    );
}

#[test]
fn every_menu_program_prints_the_seeds_output() {
    let out = session(&os("2\n4\n5\n7\n8\n0\n"));
    let expected = "Select: 2\n\n=== Counter 0-9 ===\n0 1 2 3 4 5 6 7 8 9 \n\
        Select: 4\n\n=== Fibonacci Sequence (first 15 numbers) ===\n\
        F(0) = 0\nF(1) = 1\nF(2) = 1\nF(3) = 2\nF(4) = 3\nF(5) = 5\nF(6) = 8\nF(7) = 13\n\
        F(8) = 21\nF(9) = 34\nF(10) = 55\nF(11) = 89\nF(12) = 144\nF(13) = 233\nF(14) = 377\n\
        Select: 5\n\n=== Prime Numbers up to 100 ===\n2 3 5 7 11 13 17 19 23 29 \n\
        31 37 41 43 47 53 59 61 67 71 \n73 79 83 89 97 \nTotal: 25 primes\n\
        Select: 7\n\n=== Factorial Calculator ===\nCalculating factorials for n = 0 to 12\n\n\
        0! = 1\n1! = 1\n2! = 2\n3! = 6\n4! = 24\n5! = 120\n6! = 720\n7! = 5040\n8! = 40320\n\
        9! = 362880\n10! = 3628800\n11! = 39916800\n12! = 479001600\n\n\
        Note: 13! = 6227020800 (overflow on 32-bit)\n\
        Select: 8\n\n=== GCD (Greatest Common Divisor) ===\nExamples of Euclidean algorithm:\n\n\
        GCD(48, 18) = 6\nGCD(100, 75) = 25\nGCD(123, 456) = 3\nGCD(17, 19) = 1\n\
        GCD(1071, 462) = 21\nSelect: 0\n";
    assert_eq!(out, format!("{expected}{GOODBYE}"));
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
        "Select: 3\n\n=== Echo Program (type 'quit' to exit) ===\n$ hello\nEcho: hello\n\
         $ {cut}\nWarning: Input truncated to 63 characters\nEcho: {cut}\n$ quit\n\
         Exiting echo program\n\
         Select: 6\n\n=== Simple Calculator ===\nEnter two numbers and operator (+, -, *, /)\n\
         Example: 12 + 5\nType 'q' to quit\n\n\
         Calculate: 12 + 5\nResult: 17\nCalculate: -7 * 3\nResult: -21\n\
         Calculate: 100/7\nResult: 14\nCalculate: 12+\nResult: 12\n\
         Calculate: 9 / 0\nError: Division by zero\nCalculate: 7 % 2\nError: Invalid operator\n\
         Calculate: abc\nError: Invalid operator\nCalculate: quit\nError: Invalid operator\n\
         Calculate: q\nExiting calculator\nSelect: 0\n{GOODBYE}"
    );
    assert_eq!(out, expected);
}

#[test]
fn the_end_of_input_ends_the_shell_as_if_0_was_chosen() {
    let out = session(&os("1\n"));
    assert_eq!(out, format!("Select: 1\n{TABLE}Select: {GOODBYE}"));
    // Also in the middle of a program: echo ends, then the shell.
    let out = session(&os("3\nbye"));
    assert!(
        out.ends_with(&format!("$ bye\nEcho: bye\n$ Select: {GOODBYE}")),
        "{out}"
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
    assert!(out.contains(TABLE), "the shell goes on");
    assert!(out.ends_with(GOODBYE));
}

#[test]
fn preempt_ps_uptime_ls_and_cat() {
    let out = session(&os(
        "uptime\npreempt\nps\nuptime\nls\ncat motd\n9\nbogus\n0\n",
    ));
    // preempt: both letters, alternating several times.
    let letters: String = out
        .lines()
        .find(|l| l.starts_with('A') || l.starts_with('B'))
        .expect("the letters")
        .to_string();
    assert_eq!(letters.matches('A').count(), 12, "{letters}");
    assert_eq!(letters.matches('B').count(), 12, "{letters}");
    let switches = letters
        .as_bytes()
        .windows(2)
        .filter(|w| w[0] != w[1])
        .count();
    assert!(switches >= 4, "only {switches} switches: {letters}");
    // ps: the idle process and the shell.
    assert!(
        out.contains("  PID  STATE     NAME\n    0  runnable  idle\n    1  running   shell\n"),
        "{out}"
    );
    // uptime advances.
    let uptimes: Vec<f64> = out
        .lines()
        .filter_map(|l| l.strip_prefix("Uptime: "))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(uptimes.len(), 2);
    assert!(uptimes[1] > uptimes[0], "{uptimes:?}");
    // ls lists the archive; cat prints a file.
    for file in ["motd", "readme.txt", "shell", "mult", "spin", "preempt"] {
        assert!(
            out.lines()
                .any(|l| l.trim_start().starts_with(&format!("{file} "))),
            "ls: {file}"
        );
    }
    assert!(out.contains("Welcome to 1K OS, running on mini-kvm.\n"));
    assert!(out.contains("=== About 1K OS ==="));
    assert!(out.contains("Select: bogus\nbogus: unknown command (try help)\n"));
}

#[test]
fn the_shell_takes_words_programs_with_arguments_and_background_jobs() {
    // The menu is shown once, before the first prompt.
    let out = os("menu\n0\n");
    assert_eq!(out.matches("=== 1K OS Menu ===").count(), 2, "{out}");
    // Whole words: `10` is not item 1; `lss` is not `ls`; arrow keys (ESC [ A...) do nothing.
    let out = session(&os("10\nlss\n\x1b[A\x1b[Dexit\n"));
    assert_eq!(
        out,
        format!(
            "Select: 10\n10: unknown command (try help)\nSelect: lss\n\
             lss: unknown command (try help)\nSelect: exit\n{GOODBYE}"
        )
    );
    // Any program by name, with an argument; `quit` leaves like 0.
    let out = session(&os("fib\nspin Z\nquit\n"));
    assert!(
        out.starts_with("Select: fib\n\n=== Fibonacci Sequence"),
        "{out}"
    );
    assert!(
        out.contains("F(14) = 377\nSelect: spin Z\nZZZZZZZZZZZZSelect: quit\n"),
        "{out}"
    );
    assert!(out.ends_with(GOODBYE), "{out}");
    // In the background: ps shows it, kill stops it, wait says how it ended. (Its letters
    // and the kernel's line come when the scheduler runs it, so only their presence counts.)
    let out = session(&os("spin A &\nps\nkill 2\nwait 2\nps\nkill 2\n0\n"));
    assert!(out.contains("[2] spin\n"), "{out}");
    assert!(
        out.contains("    2  runnable  spin\n") || out.contains("    2  sleeping  spin\n"),
        "{out}"
    );
    assert!(out.contains("[kernel] pid 2 (spin): killed\n"), "{out}");
    assert!(out.contains("[2] done (status -1)\n"), "{out}");
    let after_wait = &out[out.find("[2] done").expect("the job ends")..];
    assert!(
        after_wait.contains("  PID  STATE     NAME\n    0  runnable  idle\n    1  running   shell\nSelect: kill 2\nkill: 2: no such process\n"),
        "{after_wait}"
    );
    assert!(out.ends_with(GOODBYE), "{out}");
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
    require("qemu-system-x86_64");
    // timeout(1) guards against a QEMU that hangs without output: reads then end.
    let mut qemu = Command::new("timeout")
        .args(["120", "qemu-system-x86_64"])
        .args(["-kernel", env!("MINI_KVM_OS_1K_IMAGE")])
        .args([
            "-serial",
            "stdio",
            "-display",
            "none",
            "-no-reboot",
            "-m",
            "32",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("qemu starts");
    let mut out = qemu.stdout.take().unwrap();
    let mut input = qemu.stdin.take().unwrap();
    let mut seen = String::new();
    // Under QEMU `int 0x80` goes through the IDT gate: the shell's output proves system calls.
    read_until(&mut out, &mut seen, "Select: ");
    input.write_all(b"1\n").unwrap();
    read_until(&mut out, &mut seen, "9*9=81 \n");
    input.write_all(b"0\n").unwrap();
    read_until(&mut out, &mut seen, "Thank you for using 1K OS!");
    // 0 powers off through QEMU's ACPI port: QEMU exits by itself.
    let started = Instant::now();
    while qemu.try_wait().unwrap().is_none() {
        if started.elapsed() > HANG_GUARD {
            let _ = qemu.kill();
            panic!("qemu did not power off");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(seen.contains("=== 1K OS x86-64 ===") && seen.contains(TABLE));
}
