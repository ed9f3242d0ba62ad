//! mini-kvm confines itself: once the VM is built and before the first KVM_RUN, a seccomp-BPF
//! allow-list (kvm/seccomp.rs) limits the process to the system calls that running guests
//! needs. The tour explains why in docs/11-confining-the-vmm.md; seccomp(2) and the kernel's
//! Documentation/userspace-api/seccomp_filter.rst are the references.
//!
//! The list is what the run loop, the devices, the console threads, the gdb stub and the way
//! out use, found by reading the code and checked by running every test with the filter on:
//! * KVM: `ioctl` with only the requests used after setup (KVM_RUN, the register ioctls, the
//!   debugger's KVM_TRANSLATE and KVM_SET_GUEST_DEBUG, COM1's KVM_IRQ_LINE and the
//!   KVM_(UN)REGISTER_COALESCED_MMIO that follow IER.ETBEI and MCR.LOOP, KVM_GET_MP_STATE to
//!   see a vCPU halted for good) and the terminal's TCGETS/TCSETS; KVM_SET_USER_MEMORY_REGION
//!   for the slot of RAM above 4 GiB, added when the guest first touches it. Creating VMs or
//!   vCPUs is no longer possible.
//! * I/O on descriptors already open: read, write, poll, close, fcntl(F_GETFD/F_GETFL); the gdb socket's accept4,
//!   recvfrom, sendto, setsockopt, getsockname, getpeername, shutdown. No open, no socket, no
//!   connect, no bind: a compromised mini-kvm cannot reach a new file or a new peer.
//! * Threads and memory: futex, clone (threads only: CLONE_THREAD must be set; clone3 fails with
//!   ENOSYS so glibc falls back to clone, whose flags the filter can read), mmap and mprotect
//!   without PROT_EXEC (no new code), munmap, madvise, mremap, brk, the thread set-up calls
//!   (set_robust_list, rseq, sigaltstack, prctl(PR_SET_NAME)).
//! * Signals and time: the kick (tgkill, getpid, gettid), rt_sigprocmask, rt_sigreturn,
//!   clock_gettime, clock_nanosleep, nanosleep, sched_yield, sched_getaffinity (glibc asks it when
//!   a thread starts), getrandom.
//! * The end: exit (a thread), exit_group (the process).
//!
//! Anything else raises SIGSYS: one line "mini-kvm: seccomp: blocked system call N (name)", the
//! terminal restored, status 1.

use crate::kvm::ioctl::*;
use crate::kvm::seccomp::{self, Rule};

/// ioctl requests allowed after setup.
// [tour:runtime-ioctls]
const RUNTIME_IOCTLS: &[u32] = &[
    KVM_RUN as u32,
    KVM_GET_REGS as u32,
    KVM_SET_REGS as u32,
    KVM_GET_SREGS as u32,
    KVM_SET_SREGS as u32,
    KVM_TRANSLATE as u32,
    KVM_SET_GUEST_DEBUG as u32,
    KVM_IRQ_LINE as u32,
    KVM_REGISTER_COALESCED_MMIO as u32,
    // RAM above 4 GiB gets its slot at the guest's first access (devices/mod.rs).
    KVM_SET_USER_MEMORY_REGION as u32,
    KVM_UNREGISTER_COALESCED_MMIO as u32,
    KVM_GET_MP_STATE as u32,
    libc::TCGETS as u32,
    libc::TCSETS as u32,
];
// [/tour:runtime-ioctls]

/// The allow-list.
pub fn rules() -> Vec<Rule> {
    use libc::*;
    let mut rules: Vec<Rule> = [
        SYS_read,
        SYS_write,
        SYS_poll,
        SYS_ppoll,
        SYS_close,
        SYS_futex,
        SYS_munmap,
        SYS_madvise,
        SYS_mremap,
        SYS_brk,
        SYS_set_robust_list,
        SYS_rseq,
        SYS_sigaltstack,
        SYS_rt_sigprocmask,
        SYS_rt_sigreturn,
        SYS_tgkill,
        SYS_getpid,
        SYS_gettid,
        SYS_clock_gettime,
        SYS_clock_nanosleep,
        SYS_nanosleep,
        SYS_sched_yield,
        SYS_sched_getaffinity,
        SYS_getrandom,
        SYS_accept4,
        SYS_accept,
        SYS_recvfrom,
        SYS_sendto,
        SYS_setsockopt,
        SYS_getsockname,
        SYS_getpeername,
        SYS_shutdown,
        SYS_exit,
        SYS_exit_group,
    ]
    .into_iter()
    .map(Rule::Allow)
    .collect();
    rules.extend([
        Rule::ArgIn {
            nr: SYS_ioctl,
            arg: 1,
            values: RUNTIME_IOCTLS,
        },
        Rule::ArgMaskClear {
            nr: SYS_mmap,
            arg: 2,
            mask: PROT_EXEC as u32,
        },
        Rule::ArgMaskClear {
            nr: SYS_mprotect,
            arg: 2,
            mask: PROT_EXEC as u32,
        },
        Rule::ArgMaskSet {
            nr: SYS_clone,
            arg: 0,
            mask: CLONE_THREAD as u32,
        },
        Rule::Errno {
            nr: SYS_clone3,
            errno: ENOSYS as u32,
        },
        // Rust's debug builds check that a descriptor is valid (F_GETFD) before closing it.
        Rule::ArgIn {
            nr: SYS_fcntl,
            arg: 1,
            values: &[F_GETFD as u32, F_GETFL as u32],
        },
        Rule::ArgIn {
            nr: SYS_prctl,
            arg: 0,
            values: &[PR_SET_NAME as u32],
        },
    ]);
    rules
}

/// Installs the filter on every thread; the error says why it could not be.
pub fn confine() -> Result<usize, String> {
    if !seccomp::available() {
        return Err(
            "this kernel has no seccomp support (CONFIG_SECCOMP_FILTER): run with --no-seccomp"
                .into(),
        );
    }
    let program = seccomp::compile(&rules());
    seccomp::install(&program).map_err(|e| {
        format!("installing the seccomp filter failed: {e} (or run with --no-seccomp)")
    })?;
    Ok(program.len())
}

/// How many system calls the filter allows, or None where this kernel has no seccomp (then
/// runs need --no-seccomp). For `--host-check`.
pub fn allowed_calls() -> Option<usize> {
    seccomp::available().then(|| rules().len())
}

/// Test-only: `MINI_KVM_TEST_FORBIDDEN_SYSCALL=1` makes every vCPU thread make one system call
/// the filter forbids (getppid) before its first KVM_RUN, so a test can see the filter stop it.
/// Read once, when the VM is built; harmless without the filter (getppid changes nothing).
pub fn test_forbidden_syscall_wanted() -> bool {
    std::env::var_os("MINI_KVM_TEST_FORBIDDEN_SYSCALL").is_some_and(|v| v == "1")
}

/// The forbidden call itself.
pub fn make_forbidden_syscall() {
    let _ = nix::unistd::getppid();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_list_compiles_and_forbids_opening_files() {
        let program = seccomp::compile(&rules());
        assert!(program.len() < usize::from(u16::MAX));
        let nrs: Vec<i64> = rules()
            .iter()
            .map(|r| match *r {
                Rule::Allow(nr)
                | Rule::ArgIn { nr, .. }
                | Rule::ArgMaskClear { nr, .. }
                | Rule::ArgMaskSet { nr, .. }
                | Rule::Errno { nr, .. } => nr,
            })
            .collect();
        for forbidden in [
            libc::SYS_open,
            libc::SYS_openat,
            libc::SYS_execve,
            libc::SYS_socket,
            libc::SYS_connect,
            libc::SYS_ptrace,
            libc::SYS_getppid,
        ] {
            assert!(!nrs.contains(&forbidden), "{forbidden} must not be allowed");
        }
        // KVM_CREATE_VM and KVM_CREATE_VCPU are not runtime ioctls.
        assert!(!RUNTIME_IOCTLS.contains(&(KVM_CREATE_VM as u32)));
        assert!(!RUNTIME_IOCTLS.contains(&(KVM_CREATE_VCPU as u32)));
    }
}
