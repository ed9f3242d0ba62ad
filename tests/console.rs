//! Several vCPUs, the UART, stdin and the terminal, through the real binary.

mod common;
use common::tmux::Tmux;
use common::*;
use std::process::Command;

/// Lines of `stdout` that belong to vCPU `n`, prefix removed.
fn vcpu_lines(stdout: &str, n: usize) -> String {
    let prefix = format!("[{n}] ");
    stdout.lines().filter_map(|l| l.strip_prefix(&prefix)).map(|l| format!("{l}\n")).collect()
}

#[test]
fn four_guests_print_whole_prefixed_lines() {
    let guests = ["hello", "fibonacci", "counter", "multiplication"];
    let r = run(&guests);
    assert_eq!(r.status, 0, "{}", r.stderr);
    for line in r.stdout.lines() {
        assert!(
            ["[0] ", "[1] ", "[2] ", "[3] "].iter().any(|p| line.starts_with(p)),
            "unprefixed line {line:?}"
        );
    }
    for (n, guest) in guests.iter().enumerate() {
        let mut alone = run(&[guest]).stdout;
        if !alone.ends_with('\n') {
            alone.push('\n'); // a partial last line is finished when its vCPU stops
        }
        assert_eq!(vcpu_lines(&r.stdout, n), alone, "vCPU {n} ({guest})");
    }
}

#[test]
fn colour_only_when_asked_and_never_with_no_color() {
    let r = run(&["--color=always", "hello", "hello"]);
    assert!(r.stdout.contains("\x1b[38;5;46m[0]\x1b[0m Hello, KVM!"), "{:?}", r.stdout);
    let r = run(&["hello", "hello"]); // stdout is a pipe: auto means no colour
    assert!(!r.stdout.contains('\x1b'));
    let r = run_with(&["--color=auto", "hello", "hello"], b"", &[("NO_COLOR", "1")], HANG_GUARD);
    assert!(!r.stdout.contains('\x1b'));
}

#[test]
fn uart_registers_read_their_reset_values() {
    // stdin stays open (and empty) until mini-kvm has ended: the carrier is up, as after
    // reset. The test holds the pipe's write end itself, so nothing depends on timing.
    let child = Command::new(MINI_KVM)
        .arg(test_guest("uart_lsr"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = child;
    let held_open = child.stdin.take();
    let out = child.wait_with_output().unwrap();
    drop(held_open);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "LSR=60\nMSR=B0\n");
}

#[test]
fn end_of_input_drops_the_uart_carrier() {
    // stdin ends at once: DCD drops, and the read that sees it has DDCD (its delta bit) set.
    let r = run(&[&test_guest("carrier")]);
    assert_eq!((r.status, r.stdout.as_str()), (0, "MSR=38\n"), "{}", r.stderr);
}

#[test]
fn uart_echo_returns_every_byte_of_piped_input() {
    // Every byte value, twice, through a file so the comparison is byte for byte.
    let dir = std::env::temp_dir().join(format!("mini-kvm-echo-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let input: Vec<u8> = (0..=255u8).chain((0..=255u8).rev()).chain(*b"the end\n").collect();
    std::fs::write(dir.join("in"), &input).unwrap();
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "{MINI_KVM} {} < {dir}/in > {dir}/out",
            test_guest("uart_echo"),
            dir = dir.display()
        ))
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert_eq!(std::fs::read(dir.join("out")).unwrap(), input);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn echo_guest_stops_at_end_of_input() {
    let r = run_input(&["echo"], b"abc");
    assert_eq!((r.status, r.stdout.as_str(), r.stderr.as_str()), (0, "abc", ""));
    let r = run_input(&["echo"], b"");
    assert_eq!((r.status, r.stdout.as_str()), (0, ""));
    let r = run_input(&["echo"], b"xyq ignored");
    assert_eq!((r.status, r.stdout.as_str()), (0, "xy"), "stops at q");
}

#[test]
fn four_spinning_vcpus_stop_at_the_timeout_every_time() {
    // Four threads in `jmp $`, kicked out of KVM_RUN by the timeout, 50 times over: a lost
    // kick would hang a run (and `run` fails it after 20 s).
    let spin = test_guest("spin");
    for i in 0..50 {
        let r = run(&["--timeout", "0.1", &spin, &spin, &spin, &spin]);
        assert_eq!(r.status, 124, "run {i}: {}", r.stderr);
        assert_one_line(&r, &["timeout: stopped the guest after 0.1 s"]);
    }
}

#[test]
fn a_fault_on_one_vcpu_stops_the_others_and_names_it() {
    let r = run(&[&test_guest("spin"), &test_guest("triple_fault")]);
    assert_eq!(r.status, 5);
    assert!(r.stderr.contains("vCPU 1 (triple_fault)"), "{}", r.stderr);
}

// ------------------------------------------------------------------ a real terminal, via tmux

/// The script run in the terminal: settings before, mini-kvm, its status, settings after.
fn terminal_script(args: &str) -> String {
    format!(
        "stty -a > DIR/before; MINI_KVM {args}; echo $? > DIR/status.tmp; \
         stty -a > DIR/after; mv DIR/status.tmp DIR/status; sleep 30"
    )
}

#[test]
#[ignore = "needs tmux: `make test` installs it and runs this (or: cargo test -- --include-ignored)"]
fn on_a_terminal_keys_reach_the_guest_and_ctrl_a_x_quits() {
    let t = Tmux::start("keys", &terminal_script("-v echo"));
    // -v says when the vCPU threads start, which is after the terminal went raw: keys typed
    // from then on reach the guest.
    t.wait_for("the guest to start", |t| t.screen().contains("starting 1 vCPU thread(s)"));
    t.keys(&["x", "y", "z"]);
    t.wait_for("the echo", |t| t.screen().contains("xyz"));
    t.keys(&["C-a", "x"]);
    t.wait_for("mini-kvm to quit", |t| t.file("status").is_some());
    assert_eq!(t.file("status").unwrap().trim(), "130");
    assert_eq!(t.file("before"), t.file("after"), "terminal settings restored");
}

#[test]
#[ignore = "needs tmux: `make test` installs it and runs this (or: cargo test -- --include-ignored)"]
fn the_terminal_is_restored_after_a_fault_and_a_timeout() {
    for (name, args, status) in [
        ("fault", test_guest("triple_fault"), "5"),
        ("timeout", format!("--timeout 1 {}", test_guest("spin")), "124"),
    ] {
        let t = Tmux::start(name, &terminal_script(&args));
        t.wait_for("mini-kvm to end", |t| t.file("status").is_some());
        assert_eq!(t.file("status").unwrap().trim(), status, "{name}");
        assert_eq!(t.file("before"), t.file("after"), "{name}: terminal settings restored");
    }
}

/// COM1's THR writes, with one vCPU and a KVM that offers KVM_CAP_COALESCED_PIO, wait in KVM's
/// coalesced ring (after the first 512). Whatever the guest does around them, the output is
/// the same as with every write exiting (--no-coalesce).
#[test]
fn uart_output_is_the_same_with_and_without_coalescing() {
    let order = test_guest("uart_order");
    for guest in ["counter", "multiplication_short", order.as_str()] {
        let with = run(&[guest]);
        let without = run(&["--no-coalesce", guest]);
        assert_eq!(with.status, 0, "{guest}: {}", with.stderr);
        assert_eq!(
            (with.status, &with.stdout, &with.stderr),
            (without.status, &without.stdout, &without.stderr),
            "{guest}"
        );
    }
    let lines = "=".repeat(63) + "\n";
    assert_eq!(
        run(&[&order]).stdout,
        lines.repeat(8) + "aL DLL=0C z\n",
        "THR, loopback through RBR, DLL under DLAB: each seen in order"
    );
}

/// The sum of the counts of `--trace`'s ring lines, and the bytes they show.
fn ring_lines(stderr: &str) -> (u32, String) {
    let mut writes = 0;
    let mut bytes = String::new();
    for line in stderr.lines().filter(|l| l.contains("COALESCED PIO")) {
        let raw = line.split("COALESCED PIO").nth(1).unwrap().trim_start();
        writes += raw.split(' ').next().unwrap().parse::<u32>().unwrap();
        if let Some(thr) = line.split("THR \"").nth(1) {
            bytes.push_str(thr.rsplit_once('"').unwrap().0);
        }
    }
    (writes, bytes)
}

#[test]
fn coalesced_writes_are_counted_and_traced_as_batches() {
    let order = test_guest("uart_order");
    let coalesces = host().is("coalesced-pio", "yes");
    let stats = run(&["--stats", &order]);
    let plain = run(&["--stats", "--no-coalesce", &order]);
    assert_eq!((stats.status, plain.status), (0, 0), "{}", stats.stderr);
    // 526 THR, MCR and LCR writes plus 6 THR writes, one of them to DLL.
    assert!(
        plain.stderr.contains("  KVM_EXIT_IO (out)                 532\n")
            && !plain.stderr.contains("coalesced"),
        "{}",
        plain.stderr
    );
    let coalesced_row = "  coalesced writes (COM1)             6 (no exits)\n";
    if coalesces {
        assert!(
            stats.stderr.contains("  KVM_EXIT_IO (out)                 526\n")
                && stats.stderr.contains(coalesced_row),
            "{}",
            stats.stderr
        );
    } else {
        assert_eq!(
            stats.stderr.lines().filter(|l| l.contains("KVM_EXIT_IO")).count(),
            2,
            "{}",
            stats.stderr
        );
        assert!(!stats.stderr.contains("coalesced"), "{}", stats.stderr);
    }
    // --trace: each drained batch is one line with its count; together they are every
    // coalesced write, in order, and no THR exit line shows them a second time.
    let trace = run(&["--trace=uart", &order]);
    let (writes, bytes) = ring_lines(&trace.stderr);
    let thr_exits = trace.stderr.matches("write THR").count();
    if coalesces {
        assert_eq!((writes, bytes.as_str()), (6, "a  z\\n"), "{}", trace.stderr);
        assert!(trace.stderr.contains("1 write from the ring, no exit; 1 to DLL (DLAB set)"));
        assert_eq!(thr_exits, 512 + 1, "the first 512, and 'L' in loopback");
    } else {
        assert_eq!((writes, thr_exits), (0, 518), "{}", trace.stderr);
    }
    let plain = run(&["--trace=uart", "--no-coalesce", &order]);
    assert_eq!(ring_lines(&plain.stderr).0, 0);
    assert_eq!(plain.stderr.matches("write THR").count(), 518);
}
