//! Confinement: before the first KVM_RUN, mini-kvm allows itself only the system calls the run
//! loop, the console, the gdb stub, the disk thread and the exit need, with the KVM ioctls checked by number
//! (seccomp.rs compiles the list into a BPF program). No `open`, no `socket`, no `execve`: a
//! guest that found a bug in a device could not make mini-kvm open a file or start a program.
//! On by default; `--no-seccomp` turns it off. Chapter 11 explains it.

pub mod seccomp;

use crate::error::Ending;
use crate::kvm::bindings::*;
use crate::kvm::{debug, io, ior, iow, iowr, irqchip};
use crate::machine::Layer;
use crate::vcpu::{Control, Runner, VcpuHook};
use seccomp::Rule;
use std::sync::Arc;

// [tour:runtime-ioctls]
/// The ioctls a running VM makes: KVM's (by request number) and the terminal's.
const RUNTIME_IOCTLS: &[u32] = &[
    io(0x80) as u32,                                                    // KVM_RUN
    ior::<kvm_regs>(0x81) as u32,                                       // KVM_GET_REGS
    iow::<kvm_regs>(0x82) as u32,                                       // KVM_SET_REGS
    ior::<kvm_sregs>(0x83) as u32,                                      // KVM_GET_SREGS
    iow::<kvm_sregs>(0x84) as u32,                                      // KVM_SET_SREGS
    iowr::<debug::kvm_translation>(0x85) as u32,                        // KVM_TRANSLATE
    iow::<debug::kvm_guest_debug>(0x9b) as u32,                         // KVM_SET_GUEST_DEBUG
    iow::<irqchip::kvm_irq_level>(0x61) as u32,                         // KVM_IRQ_LINE
    ior::<irqchip::kvm_mp_state>(0x98) as u32,                          // KVM_GET_MP_STATE
    iow::<kvm_userspace_memory_region>(0x46) as u32, // KVM_SET_USER_MEMORY_REGION (RAM above 4 GiB)
    iow::<crate::kvm::coalesced::kvm_coalesced_mmio_zone>(0x67) as u32, // KVM_REGISTER_COALESCED_MMIO
    iow::<crate::kvm::coalesced::kvm_coalesced_mmio_zone>(0x68) as u32, // KVM_UNREGISTER_COALESCED_MMIO
    io(0x03) as u32,                                                    // KVM_CHECK_EXTENSION
    libc::TCGETS as u32,
    libc::TCSETS as u32,
];
// [/tour:runtime-ioctls]

/// The allow-list, with each call's name (for the message when one is blocked).
pub fn rules() -> Vec<(Rule, &'static str)> {
    use libc::*;
    use Rule::*;
    vec![
        (Allow(SYS_read), "read"),
        (Allow(SYS_write), "write"),
        (Allow(SYS_poll), "poll"),
        (Allow(SYS_ppoll), "ppoll"),
        (Allow(SYS_close), "close"),
        (Allow(SYS_futex), "futex"),
        (Allow(SYS_munmap), "munmap"),
        (Allow(SYS_madvise), "madvise"),
        (Allow(SYS_mremap), "mremap"),
        (Allow(SYS_brk), "brk"),
        (Allow(SYS_set_robust_list), "set_robust_list"),
        (Allow(SYS_rseq), "rseq"),
        (Allow(SYS_sigaltstack), "sigaltstack"),
        (Allow(SYS_rt_sigprocmask), "rt_sigprocmask"),
        (Allow(SYS_rt_sigreturn), "rt_sigreturn"),
        (Allow(SYS_tgkill), "tgkill"),
        (Allow(SYS_getpid), "getpid"),
        (Allow(SYS_gettid), "gettid"),
        (Allow(SYS_clock_gettime), "clock_gettime"),
        (Allow(SYS_clock_nanosleep), "clock_nanosleep"),
        (Allow(SYS_nanosleep), "nanosleep"),
        (Allow(SYS_sched_yield), "sched_yield"),
        (Allow(SYS_sched_getaffinity), "sched_getaffinity"),
        (Allow(SYS_getrandom), "getrandom"),
        (Allow(SYS_accept4), "accept4"),
        (Allow(SYS_accept), "accept"),
        (Allow(SYS_recvfrom), "recvfrom"),
        (Allow(SYS_sendto), "sendto"),
        (Allow(SYS_setsockopt), "setsockopt"),
        (Allow(SYS_getsockname), "getsockname"),
        (Allow(SYS_getpeername), "getpeername"),
        (Allow(SYS_shutdown), "shutdown"),
        // The disk thread (virtio/device.rs): the image's bytes and a FLUSH.
        (Allow(SYS_pread64), "pread64"),
        (Allow(SYS_pwrite64), "pwrite64"),
        (Allow(SYS_fdatasync), "fdatasync"),
        (Allow(SYS_exit), "exit"),
        (Allow(SYS_exit_group), "exit_group"),
        (ArgIn { nr: SYS_ioctl, arg: 1, values: RUNTIME_IOCTLS }, "ioctl"),
        (ArgMaskClear { nr: SYS_mmap, arg: 2, mask: PROT_EXEC as u32 }, "mmap"),
        (ArgMaskClear { nr: SYS_mprotect, arg: 2, mask: PROT_EXEC as u32 }, "mprotect"),
        (ArgMaskSet { nr: SYS_clone, arg: 0, mask: CLONE_THREAD as u32 }, "clone"),
        // clone3 fails with ENOSYS, so that glibc creates threads with clone, which is checked.
        (Errno { nr: SYS_clone3, errno: ENOSYS as u32 }, "clone3"),
        (ArgIn { nr: SYS_fcntl, arg: 1, values: &[F_GETFD as u32, F_GETFL as u32] }, "fcntl"),
        (ArgIn { nr: SYS_prctl, arg: 0, values: &[PR_SET_NAME as u32] }, "prctl"),
        // A static glibc sets its own thread signals (SIGCANCEL 32, SIGSETXID 33) at the first
        // pthread_create, which may come after the filter: those two only.
        (ArgIn { nr: SYS_rt_sigaction, arg: 0, values: &[32, 33] }, "rt_sigaction"),
    ]
}

/// Calls mini-kvm does not make, named in the message should one be blocked anyway; any
/// other is named by its number (`ausyscall NR`, or <asm/unistd_64.h>, names it).
const OTHER_NAMES: &[(i64, &str)] = &[
    (libc::SYS_open, "open"),
    (libc::SYS_openat, "openat"),
    (libc::SYS_execve, "execve"),
    (libc::SYS_socket, "socket"),
    (libc::SYS_connect, "connect"),
    (libc::SYS_getppid, "getppid"),
    (libc::SYS_ptrace, "ptrace"),
    (libc::SYS_fork, "fork"),
    (libc::SYS_kill, "kill"),
    (libc::SYS_newfstatat, "newfstatat"),
    (libc::SYS_statx, "statx"),
    (libc::SYS_unlink, "unlink"),
];

/// How many calls the filter allows, where this kernel has seccomp.
pub fn allowed_calls() -> Option<usize> {
    seccomp::available().then(|| rules().len())
}

/// The confinement layer: installed by `main` unless `--no-seccomp`.
pub struct Confine;

impl Layer for Confine {
    // [tour:confine-when]
    fn started(&mut self, _control: &Arc<Control>) -> Result<(), Ending> {
        if !seccomp::available() {
            return Err(Ending::Host(
                "this kernel has no seccomp support (CONFIG_SECCOMP_FILTER): run with --no-seccomp"
                    .into(),
            ));
        }
        let rules: Vec<Rule> = rules().into_iter().map(|(r, _)| r).collect();
        let program = seccomp::compile(&rules);
        let terminal = crate::console::saved_terminal().map(libc::termios::from);
        let names = self::rules()
            .iter()
            .map(|(r, n)| (r.nr(), *n))
            .chain(OTHER_NAMES.iter().copied())
            .collect();
        seccomp::install(&program, names, terminal).map_err(|e| {
            Ending::Host(format!(
                "installing the seccomp filter failed: {e} (or run with --no-seccomp)"
            ))
        })?;
        crate::console::note(|| {
            format!("seccomp: on: an allow-list of {} system calls ({} BPF instructions) from now on; --no-seccomp turns it off", rules.len(), program.len())
        });
        Ok(())
    }
    // [/tour:confine-when]

    fn vcpu_hook(&mut self, _index: usize) -> Option<Box<dyn VcpuHook>> {
        let test = std::env::var_os("MINI_KVM_TEST_FORBIDDEN_SYSCALL").is_some_and(|v| v == "1");
        test.then(|| Box::new(Forbidden(true)) as Box<dyn VcpuHook>)
    }
}

/// For the tests only (`MINI_KVM_TEST_FORBIDDEN_SYSCALL=1`): each vCPU thread makes one call
/// the filter does not allow, getppid(2), before its first KVM_RUN.
struct Forbidden(bool);

impl VcpuHook for Forbidden {
    fn before_run(&mut self, _cpu: &mut Runner) -> Option<Ending> {
        if std::mem::take(&mut self.0) {
            let _ = nix::unistd::getppid();
        }
        None
    }
}

#[cfg(test)]
mod tests;
