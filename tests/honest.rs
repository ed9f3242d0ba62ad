//! Honest messages and statuses, the cases not covered by exit_status.rs:
//! a guest's own status that collides with one of mini-kvm's, informational output and guest
//! output that cannot be written, a port access named by the port the guest used, and the input
//! rule of a machine with several vCPUs (point 4: GETCHAR input goes to vCPU 0 only).

mod common;

use common::{assert_one_line, run, run_input};
use std::process::{Command, Stdio};

/// A real-mode guest: EXIT_STATUS `status`.
fn exit_with(status: u8) -> Vec<u8> {
    vec![
        0xBA, 0x00, 0x05, // mov dx, 0x500
        0xB0, 0x03, // mov al, 3 (EXIT_STATUS)
        0xB3, status, // mov bl, status
        0xEE,   // out dx, al
        0xF4,
    ]
}

fn scratch(name: &str, bytes: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("mini-kvm-honest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn a_guest_status_that_looks_like_mini_kvms_says_it_came_from_the_guest() {
    for status in [1u8, 2, 3, 4, 5, 124, 130] {
        let g = scratch(&format!("exit{status}.bin"), &exit_with(status));
        let r = run(&[&g]);
        assert_eq!(r.status, i32::from(status), "{}", r.stderr);
        assert_one_line(&r, &[&format!("chose exit status {status} itself"), "from the guest"]);
    }
    // A status mini-kvm never uses needs no explanation.
    let g = scratch("exit9.bin", &exit_with(9));
    let r = run(&[&g]);
    assert_eq!((r.status, r.stderr.as_str()), (9, ""));
}

#[test]
fn informational_output_that_cannot_be_written_is_status_1() {
    for args in [&["--list"][..], &["--help"], &["--version"], &["--host-check"]] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
        let out = Command::new(common::MINI_KVM)
            .args(args)
            .stdin(Stdio::null())
            .stdout(full)
            .stderr(Stdio::piped())
            .output()
            .expect("mini-kvm runs");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
        assert!(
            stderr.lines().count() == 1 && stderr.contains("No space left on device"),
            "{args:?}: {stderr}"
        );
    }
}

/// Runs `args` with `stdout` as mini-kvm's stdout, no input; (status, stderr).
fn run_to(args: &[&str], stdout: impl Into<Stdio>) -> (Option<i32>, String) {
    let out = Command::new(common::MINI_KVM)
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .output()
        .expect("mini-kvm runs");
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// A short guest's whole output may be written after its last push (when its vCPU stops), so
/// the write error can be the writer thread's alone: the run must still end with status 1 and
/// say so, in the words a longer run uses when its vCPU learns of the error (which of the two
/// sees it first is a race on a slow host: the message is the same either way).
#[test]
fn guest_output_lost_to_a_full_disk_is_status_1_with_the_reason() {
    for guest in ["hello", "hctest", "multiplication"] {
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
        let (status, stderr) = run_to(&[guest], full);
        assert_eq!(status, Some(1), "{guest}: {stderr}");
        assert!(
            stderr.lines().count() == 1
                && stderr.starts_with(&format!(
                    "mini-kvm: error: vCPU 0 ({guest}): writing guest output failed: "
                ))
                && stderr.contains("No space left on device"),
            "{guest}: {stderr}"
        );
    }
}

/// `mini-kvm hello | true`: the reader left before the output came. The same as a flood into
/// `| head` (modes.rs a_closed_stdout_is_a_host_failure_exit_1): status 1, "Broken pipe". The
/// pipe's read end is closed before mini-kvm starts, so the write fails on every run.
#[test]
fn guest_output_to_a_reader_that_left_is_status_1_with_the_reason() {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let (status, stderr) = run_to(&["hello"], writer);
    assert_eq!(status, Some(1), "{stderr}");
    assert!(
        stderr.lines().count() == 1
            && stderr.starts_with("mini-kvm: error: vCPU 0 (hello): writing guest output failed: ")
            && stderr.contains("Broken pipe"),
        "{stderr}"
    );
}

/// `--trace` lines are output the user asked for: a stderr that cannot take them is a failure.
#[test]
fn trace_output_lost_to_a_full_disk_is_status_1() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full").expect("/dev/full");
    let out = Command::new(common::MINI_KVM)
        .args(["--trace", "hello"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(full)
        .output()
        .expect("mini-kvm runs");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_wide_port_access_is_named_by_its_own_port() {
    // mov dx, 0x4FE; mov eax, 0x01020304; out dx, eax; hlt
    let g = scratch("out4fe.bin", &[0xBA, 0xFE, 0x04, 0x66, 0xB8, 4, 3, 2, 1, 0x66, 0xEF, 0xF4]);
    let r = run(&["-v", &g]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(
        r.stderr.contains("unclaimed port 0x04fe: 0 reads (all ones), 1 writes"),
        "{}",
        r.stderr
    );
    assert!(!r.stderr.contains("0x0500"), "{}", r.stderr);
}

#[test]
fn getchar_input_goes_to_vcpu_0_only() {
    // Two echo guests: vCPU 0 gets every byte; vCPU 1 sees the end of input at once and stops.
    let r = run_input(&["echo", "echo"], b"hello q");
    assert_eq!((r.status, r.stderr.as_str()), (0, ""));
    assert_eq!(r.stdout, "[0] hello \n");
}
