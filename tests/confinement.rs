//! The seccomp allow-list (src/confine/): on by default from the first KVM_RUN,
//! a forbidden system call from a vCPU thread stops mini-kvm with one line and status 1, and
//! `--no-seccomp` turns the filter off. Every other integration test runs with the filter on,
//! so together they show the allow-list is enough for everything mini-kvm does.
//!
//! MINI_KVM_TEST_FORBIDDEN_SYSCALL=1 is a test-only switch (confine.rs): each vCPU thread makes
//! one getppid(2), which the filter does not allow, before its first KVM_RUN.

mod common;

use common::{assert_one_line, run, run_with, HANG_GUARD};
use std::time::Duration;

const FORBIDDEN: (&str, &str) = ("MINI_KVM_TEST_FORBIDDEN_SYSCALL", "1");

#[test]
fn a_forbidden_call_from_a_vcpu_thread_is_stopped() {
    let r = run_with(&["hello"], b"", &[FORBIDDEN], HANG_GUARD);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert_eq!(r.stdout, "", "the guest never ran");
    assert_one_line(&r, &["mini-kvm: seccomp: blocked system call 110 (getppid)", "--no-seccomp"]);
    // With four vCPU threads the first one to try ends the process; still one line.
    let four = ["hello", "counter", "fibonacci", "minimal"];
    let r = run_with(&four, b"", &[FORBIDDEN], HANG_GUARD);
    assert_eq!(r.status, 1, "{}", r.stderr);
    assert_one_line(&r, &["blocked system call 110 (getppid)"]);
}

#[test]
fn no_seccomp_turns_the_filter_off() {
    let r = run_with(&["--no-seccomp", "hello"], b"", &[FORBIDDEN], HANG_GUARD);
    assert_eq!((r.status, r.stdout.as_str(), r.stderr.as_str()), (0, "Hello, KVM!\n", ""));
}

#[test]
fn verbose_and_host_check_say_whether_it_is_on() {
    let r = run(&["-v", "minimal"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stderr.contains("mini-kvm: seccomp: on: an allow-list of"), "{}", r.stderr);
    let r = run(&["-v", "--no-seccomp", "minimal"]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stderr.contains("mini-kvm: seccomp: off (--no-seccomp)"), "{}", r.stderr);
    let r = run_with(&["--host-check"], b"", &[], Duration::from_secs(60));
    assert!(
        r.stdout.lines().any(|l| l.starts_with("ok seccomp filter")
            && l.contains("available: ")
            && l.contains("system calls allowed")),
        "{}",
        r.stdout
    );
    let keys = run_with(&["--host-check=keys"], b"", &[], Duration::from_secs(60));
    assert!(keys.stdout.contains("\nseccomp yes\n"), "{}", keys.stdout);
}
