//! Unit tests of the allow-list itself (the BPF compiler's are in seccomp/tests.rs).

use super::*;

#[test]
fn each_call_has_one_rule_and_its_libc_name() {
    let rules = rules();
    let mut numbers: Vec<i64> = rules.iter().map(|(r, _)| r.nr()).collect();
    numbers.sort_unstable();
    numbers.dedup();
    assert_eq!(numbers.len(), rules.len(), "a call has two rules: only the first would apply");
    let spot_checks = [
        (libc::SYS_read, "read"),
        (libc::SYS_ioctl, "ioctl"),
        (libc::SYS_mmap, "mmap"),
        (libc::SYS_clone, "clone"),
        (libc::SYS_rt_sigaction, "rt_sigaction"),
    ];
    for (nr, name) in spot_checks {
        assert!(rules.iter().any(|(r, n)| r.nr() == nr && *n == name), "{name}");
    }
    for (nr, _) in OTHER_NAMES {
        assert!(!numbers.contains(nr), "{nr} is both allowed and named as never made");
    }
}

#[test]
fn nothing_that_opens_files_or_starts_programs_is_allowed() {
    let rules = rules();
    let allowed =
        |nr: i64| rules.iter().any(|(r, _)| r.nr() == nr && !matches!(r, Rule::Errno { .. }));
    for nr in [
        libc::SYS_open,
        libc::SYS_openat,
        libc::SYS_execve,
        libc::SYS_execveat,
        libc::SYS_socket,
        libc::SYS_connect,
        libc::SYS_fork,
        libc::SYS_vfork,
        libc::SYS_ptrace,
        libc::SYS_clone3,
    ] {
        assert!(!allowed(nr), "system call {nr} is allowed");
    }
}

#[test]
fn the_kvm_ioctls_are_the_numbers_linux_kvm_h_gives() {
    // The request numbers as `printf("%lx", KVM_RUN)` etc. prints them against <linux/kvm.h>.
    for request in [0xAE80, 0x8090_AE81, 0x4090_AE82, 0x8138_AE83, 0x4138_AE84, 0x4008_AE61] {
        assert!(RUNTIME_IOCTLS.contains(&request), "{request:#x}");
    }
    assert!(!RUNTIME_IOCTLS.contains(&0xAE01), "KVM_CREATE_VM is for setup only");
    assert!(!RUNTIME_IOCTLS.contains(&0xAE41), "KVM_CREATE_VCPU is for setup only");
}
