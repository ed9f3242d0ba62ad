//! Every exit status of docs/reference.md's table, from the real binary: usage, bad images, a
//! missing or wrong KVM device, guest statuses, guest faults, timeouts and signals.

mod common;
use common::*;

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mini-kvm-status-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let r = run(&[]);
    assert_eq!(r.status, 2);
    assert_one_line(&r, &["no guest given", "--help"]);

    let r = run(&["hello", "hello", "hello", "hello", "hello"]);
    assert_eq!(r.status, 2);
    assert_one_line(&r, &["5 guests", "at most 4"]);

    let r = run(&["--frobnicate", "hello"]);
    assert_eq!(r.status, 2);
    assert_one_line(&r, &["unknown option '--frobnicate'"]);

    let r = run(&["--timeout", "soon", "hello"]);
    assert_eq!(r.status, 2);
    assert_one_line(&r, &["--timeout", "'soon'"]);
}

#[test]
fn help_version_and_list_exit_0() {
    let r = run(&["--help"]);
    assert_eq!(r.status, 0);
    assert!(r.stdout.contains("usage: mini-kvm [OPTIONS] GUEST..."));
    for code in ["0 ", "1 ", "2 ", "3 ", "4 ", "5 ", "124", "130"] {
        assert!(r.stdout.contains(&format!("\n  {code}")), "--help lists status {code}");
    }
    let r = run(&["-V"]);
    assert_eq!((r.status, r.stdout.trim()), (0, concat!("mini-kvm ", env!("CARGO_PKG_VERSION"))));
    let r = run(&["--list"]);
    assert_eq!(r.status, 0);
    for name in ["minimal", "hello", "counter", "multiplication", "fibonacci", "matrix", "echo"] {
        assert!(
            r.stdout.lines().any(|l| l.split_whitespace().next() == Some(name)),
            "--list shows {name}:\n{}",
            r.stdout
        );
    }
}

#[test]
fn unusable_images_exit_3_naming_the_file_and_the_problem() {
    let dir = scratch("images");
    let empty = dir.join("empty.bin");
    std::fs::write(&empty, b"").unwrap();
    let huge = dir.join("huge.bin");
    std::fs::write(&huge, vec![0x90u8; 256 * 1024 + 1]).unwrap();
    let missing = dir.join("missing.bin");
    let cases: [(&std::path::Path, &str); 4] = [
        (&missing, "no such file"),
        (&dir, "is a directory"),
        (&empty, "is empty"),
        (&huge, "larger than the 262144 bytes"),
    ];
    for (path, why) in cases {
        let p = path.to_str().unwrap();
        let r = run(&[p]);
        assert_eq!(r.status, 3, "{p}: {}", r.stderr);
        assert_one_line(&r, &[p, why]);
    }
    let r = run(&["/dev/zero"]);
    assert_eq!(r.status, 3);
    assert_one_line(&r, &["/dev/zero", "not a regular file"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_missing_or_wrong_kvm_device_exits_4_with_the_fix() {
    let limit = HANG_GUARD;
    let r = run_with(&["hello"], b"", &[("MINI_KVM_DEVICE", "/nonexistent/kvm")], limit);
    assert_eq!(r.status, 4);
    // A device named by MINI_KVM_DEVICE is not missing a module: the fix is the variable.
    // (The modprobe advice for a missing /dev/kvm is a unit test in src/explain.rs.)
    assert_one_line(&r, &["/nonexistent/kvm does not exist", "MINI_KVM_DEVICE names it"]);
    let r = run_with(&["hello"], b"", &[("MINI_KVM_DEVICE", "/dev/null")], limit);
    assert_eq!(r.status, 4);
    assert_one_line(&r, &["/dev/null is not a KVM device", "KVM_GET_API_VERSION"]);
}

#[test]
fn a_flat_binary_prints_through_putchar_then_exits_0() {
    let r = run(&[&test_guest("putchar_a")]);
    assert_eq!((r.status, r.stdout.as_str(), r.stderr.as_str()), (0, "A", ""));
}

#[test]
fn exit_status_call_sets_the_status() {
    let r = run(&[&test_guest("exit7")]);
    assert_eq!((r.status, r.stderr.as_str()), (7, ""));
}

#[test]
fn an_unknown_hypercall_is_a_guest_fault_exit_5() {
    let r = run(&[&test_guest("bad_hypercall")]);
    assert_eq!(r.status, 5);
    // A device's complaint says it all in one line: no instruction decoded after it, only
    // what -v adds (registers, the last exits), and -v shows them instead of saying so.
    assert_fault(
        &r,
        &["vCPU 0", "0x7f", "CS:IP"],
        &["  more with -v: the registers and this vCPU's last exits (up to 16)"],
    );
    let v = run(&["-v", &test_guest("bad_hypercall")]);
    assert!(!v.stderr.contains("more with -v"), "{}", v.stderr);
    assert!(v.stderr.contains(" exits, oldest first"), "{}", v.stderr);
    assert!(v.stderr.contains("  RIP="), "{}", v.stderr);
}

/// A fault's report: the one-line cause first (with `needles`), then exactly `explained`.
fn assert_fault(run: &Run, needles: &[&str], explained: &[&str]) {
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1 + explained.len(), "{}", run.stderr);
    for needle in needles {
        assert!(lines[0].contains(needle), "{:?} wants {needle:?}", lines[0]);
    }
    assert_eq!(&lines[1..], explained, "{}", run.stderr);
}

#[test]
fn a_triple_fault_exits_5_naming_the_exit_and_rip() {
    let r = run(&[&test_guest("triple_fault")]);
    assert_eq!(r.status, 5, "{}", r.stderr);
    let verbose = run(&["-v", &test_guest("triple_fault")]);
    assert_eq!(verbose.status, 5);
    if host().is("shutdown-regs", "kept") {
        // The `ud2` at 0x20 in triple_fault.asm, decoded.
        assert_fault(
            &r,
            &[
                "guest fault on vCPU 0 (triple_fault): KVM_EXIT_SHUTDOWN",
                "triple-faulted",
                "at RIP 0x20 (CS 0x0008)",
            ],
            &[
                "  the instruction there: 0f 0b 90 90 90 90 90 90 = ud2: raises #UD (invalid \
               opcode, vector 6) on purpose",
                "  more with -v: the registers and this vCPU's last exits (up to 16)",
            ],
        );
        // With -v the registers follow, control bits decoded.
        assert!(verbose.stderr.contains("CR0=60000011 [PE ET NW CD]"), "{}", verbose.stderr);
        assert!(verbose.stderr.contains("EFER="), "{}", verbose.stderr);
    } else {
        // KVM reset the vCPU (AMD SVM does): no made-up address, and no reset-state dump.
        assert_fault(
            &r,
            &[
                "guest fault on vCPU 0 (triple_fault): KVM_EXIT_SHUTDOWN",
                "KVM reset the vCPU at the triple fault",
                "the faulting address is not known",
            ],
            &["  more with -v: this vCPU's last exits (up to 16)"],
        );
        assert!(!r.stderr.contains(" at RIP"), "{}", r.stderr);
        assert!(!verbose.stderr.contains("CR0="), "{}", verbose.stderr);
    }
}

#[test]
fn timeout_stops_a_spinning_guest_with_124() {
    let r = run(&["--timeout", "1", &test_guest("spin")]);
    assert_eq!(r.status, 124);
    assert_one_line(&r, &["timeout", "1 s"]);
}

#[test]
fn sigterm_and_sigint_stop_the_guest_with_130() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    use std::io::Read as _;
    for signal in [Signal::SIGTERM, Signal::SIGINT] {
        let mut child = std::process::Command::new(MINI_KVM)
            .args(["-v", &test_guest("spin")])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Signal only once mini-kvm says its vCPU threads start: by then it reads signals
        // from its signalfd (before, a signal would take its default action).
        let mut err = child.stderr.take().unwrap();
        let mut seen = String::new();
        read_until(&mut err, &mut seen, "starting 1 vCPU thread(s)");
        kill(Pid::from_raw(child.id() as i32), signal).unwrap();
        err.read_to_string(&mut seen).unwrap();
        let status = child.wait().unwrap();
        assert_eq!(status.code(), Some(130), "{seen}");
        assert!(seen.contains(&format!("stopped by {signal:?}")), "{seen}");
    }
}

#[test]
fn a_real_mode_ud2_is_explained_as_a_trip_through_the_interrupt_table() {
    let r = run(&[&test_guest("ud2_real")]);
    assert_eq!(r.status, 5, "{}", r.stderr);
    assert_eq!(r.stdout, "about to execute ud2 in real mode\n");
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(lines[0].starts_with("mini-kvm: guest fault on vCPU 0 (ud2_real): "), "{}", r.stderr);
    // Entry 6 of the table at 0 is the text "mode" of the guest's message: CS:IP 6572:206e.
    assert!(
        lines.contains(
            &"  real mode: an exception or `int n` jumps through the interrupt vector table at \
              0x0, to the CS:IP stored at 4 x n; no BIOS set one up here, so in a flat guest \
              loaded at 0 the table is the guest's own first bytes"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("  the table sends #UD (ud2) to 6572:206e, "), "{}", r.stderr);
    if lines[0].ends_with(" at CS:IP 6572:206e") {
        assert!(
            lines.contains(
                &"  the fault is where entry 6 points: the guest took vector 6, #UD (ud2), \
                  through that table and broke at the first instruction there"
            ),
            "{}",
            r.stderr
        );
    }
    // -v adds the registers and the last exits: the message's PUTCHARs, then the fault's own.
    let v = run(&["-v", &test_guest("ud2_real")]);
    let exits = v.stderr.split("  the last 16 of ").nth(1).unwrap_or_else(|| {
        panic!("no exit history: {}", v.stderr);
    });
    let history: Vec<&str> = exits.lines().skip(1).take(16).collect();
    assert_eq!(history.len(), 16, "{exits}");
    assert!(
        history[..15].iter().all(|l| l.starts_with("    KVM_EXIT_IO             out port 0x0500")),
        "{exits}"
    );
    assert!(!history[15].contains("KVM_EXIT_IO "), "the fault's exit: {exits}");
}

#[test]
fn a_long_mode_ud2_is_decoded_at_the_faulting_rip() {
    let r = run(&["--long-mode", &test_guest("ud2_long")]);
    assert_eq!(r.status, 5, "{}", r.stderr);
    if host().is("shutdown-regs", "kept") {
        // The `ud2` after a `nop` at 0x1000.
        assert_fault(
            &r,
            &["guest fault on vCPU 0 (ud2_long): KVM_EXIT_SHUTDOWN", "at RIP 0x1001 (CS 0x0008)"],
            &[
                "  the instruction there: 0f 0b f4 00 00 00 00 00 = ud2: raises #UD (invalid \
               opcode, vector 6) on purpose",
                "  more with -v: the registers and this vCPU's last exits (up to 16)",
            ],
        );
    } else {
        assert_fault(
            &r,
            &["KVM reset the vCPU at the triple fault"],
            &["  more with -v: this vCPU's last exits (up to 16)"],
        );
    }
}
