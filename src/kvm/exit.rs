//! Why `KVM_RUN` returned, as a Rust value: [`VmExit`], its `KVM_EXIT_*` name and the
//! [`ExitKind`] that statistics count by.
//!
//! api.rst section 5 ("The kvm_run structure"): `exit_reason` says which member of the exit
//! union KVM filled in. [`Vcpu::run`](super::Vcpu::run) decodes that page into a [`VmExit`];
//! this file says what each exit is called, so that traces, statistics and error messages all
//! take the name from the one table in [`bindings`](super::bindings::exit_reason_name).

use super::bindings::*;
use super::ioctl::KVM_GET_REGS;
use super::{ioctl_with_mut, KvmError};
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

/// Why `KVM_RUN` returned: the decoded `kvm_run.exit_reason` with the fields that go with it.
#[derive(Debug)]
pub enum VmExit<'a> {
    /// KVM_EXIT_IO, guest `in`/`ins`: fill `data` (`size` bytes per access, `data.len() / size`
    /// accesses for a `rep ins`) before the next KVM_RUN.
    IoIn {
        port: u16,
        size: u8,
        data: &'a mut [u8],
    },
    /// KVM_EXIT_IO, guest `out`/`outs`: `data` holds what the guest wrote.
    IoOut {
        port: u16,
        size: u8,
        data: &'a [u8],
        regs: ExitRegs<'a>,
    },
    /// KVM_EXIT_MMIO, a load from an address with no memory slot: fill `data`.
    MmioRead { addr: u64, data: &'a mut [u8] },
    /// KVM_EXIT_MMIO, a store to an address with no memory slot.
    MmioWrite { addr: u64, data: &'a [u8] },
    /// KVM_EXIT_HLT: the guest executed `hlt` and no in-kernel interrupt controller will wake it.
    Hlt,
    /// KVM_EXIT_SHUTDOWN: a triple fault (or a shutdown cycle); the vCPU cannot continue.
    Shutdown,
    /// KVM_EXIT_FAIL_ENTRY: VM entry failed (invalid guest state).
    FailEntry { reason: u64, cpu: u32 },
    /// KVM_EXIT_INTERNAL_ERROR: KVM gave up, usually on an instruction it cannot emulate.
    InternalError { suberror: u32, data: &'a [u64] },
    /// KVM_EXIT_SYSTEM_EVENT: shutdown/reset/crash requested by the guest.
    SystemEvent { kind: u32 },
    /// KVM_EXIT_DEBUG: single-step or breakpoint; `pc` is the linear address of the next
    /// instruction, `exception` 1 (#DB) or 3 (#BP).
    Debug { exception: u32, pc: u64 },
    /// KVM_RUN returned EINTR or EAGAIN (KVM_EXIT_INTR): a signal or `immediate_exit` kicked us.
    Interrupted,
    /// A known exit `reason` whose fields make no sense (`why`), such as port I/O data outside
    /// the mapped page: a KVM bug or a mismatched `kvm_run` layout, never the guest's doing.
    Malformed { reason: u32, why: &'static str },
    /// Any other exit reason (the raw number).
    Other(u32),
}

/// The kinds of exit counted apart, in the order `--stats` prints them: one per exit reason
/// mini-kvm handles, port I/O split by direction, and everything else together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    IoOut,
    IoIn,
    Mmio,
    Hlt,
    Shutdown,
    FailEntry,
    InternalError,
    SystemEvent,
    Debug,
    Interrupted,
    /// Malformed exits and reasons mini-kvm does not decode.
    Other,
}

impl ExitKind {
    /// Every kind, in counting order: `ALL[k as usize] == k`.
    pub const ALL: [ExitKind; 11] = [
        ExitKind::IoOut,
        ExitKind::IoIn,
        ExitKind::Mmio,
        ExitKind::Hlt,
        ExitKind::Shutdown,
        ExitKind::FailEntry,
        ExitKind::InternalError,
        ExitKind::SystemEvent,
        ExitKind::Debug,
        ExitKind::Interrupted,
        ExitKind::Other,
    ];

    /// The `KVM_EXIT_*` reason every exit of this kind has; `None` for `Other`, which gathers
    /// several.
    pub fn reason(self) -> Option<u32> {
        Some(match self {
            ExitKind::IoOut | ExitKind::IoIn => KVM_EXIT_IO,
            ExitKind::Mmio => KVM_EXIT_MMIO,
            ExitKind::Hlt => KVM_EXIT_HLT,
            ExitKind::Shutdown => KVM_EXIT_SHUTDOWN,
            ExitKind::FailEntry => KVM_EXIT_FAIL_ENTRY,
            ExitKind::InternalError => KVM_EXIT_INTERNAL_ERROR,
            ExitKind::SystemEvent => KVM_EXIT_SYSTEM_EVENT,
            ExitKind::Debug => KVM_EXIT_DEBUG,
            ExitKind::Interrupted => KVM_EXIT_INTR,
            ExitKind::Other => return None,
        })
    }

    /// The kernel's name for this kind's reason ("KVM_EXIT_(other)" for `Other`).
    pub fn name(self) -> &'static str {
        self.reason().map_or(OTHER_EXIT_NAME, exit_reason_name)
    }
}

impl VmExit<'_> {
    /// Which [`ExitKind`] this exit is counted as.
    pub fn kind(&self) -> ExitKind {
        match self {
            VmExit::IoOut { .. } => ExitKind::IoOut,
            VmExit::IoIn { .. } => ExitKind::IoIn,
            VmExit::MmioRead { .. } | VmExit::MmioWrite { .. } => ExitKind::Mmio,
            VmExit::Hlt => ExitKind::Hlt,
            VmExit::Shutdown => ExitKind::Shutdown,
            VmExit::FailEntry { .. } => ExitKind::FailEntry,
            VmExit::InternalError { .. } => ExitKind::InternalError,
            VmExit::SystemEvent { .. } => ExitKind::SystemEvent,
            VmExit::Debug { .. } => ExitKind::Debug,
            VmExit::Interrupted => ExitKind::Interrupted,
            VmExit::Malformed { .. } | VmExit::Other(_) => ExitKind::Other,
        }
    }

    /// The kernel's `KVM_EXIT_*` name for this exit's reason (a malformed exit keeps the name
    /// of the reason KVM gave).
    pub fn name(&self) -> &'static str {
        match self {
            VmExit::Malformed { reason, .. } | VmExit::Other(reason) => exit_reason_name(*reason),
            _ => self.kind().name(),
        }
    }
}

/// The registers at an exit: free when KVM synced them into the run page (KVM_CAP_SYNC_REGS),
/// otherwise one KVM_GET_REGS, done only if a handler asks.
#[derive(Debug)]
pub enum ExitRegs<'a> {
    Synced(&'a kvm_regs),
    Fetch(BorrowedFd<'a>),
}

impl ExitRegs<'_> {
    pub fn get(&self) -> Result<kvm_regs, KvmError> {
        match self {
            ExitRegs::Synced(regs) => Ok(**regs),
            ExitRegs::Fetch(fd) => get_regs(fd.as_raw_fd()),
        }
    }
}

/// KVM_GET_REGS on a vCPU fd.
pub(super) fn get_regs(fd: RawFd) -> Result<kvm_regs, KvmError> {
    let mut regs = kvm_regs::default();
    // SAFETY: KVM_GET_REGS writes exactly one kvm_regs.
    unsafe { ioctl_with_mut(fd, "KVM_GET_REGS", KVM_GET_REGS, &mut regs)? };
    Ok(regs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_reason() {
        let data = [0u8; 1];
        let out = VmExit::IoOut {
            port: 0x3F8,
            size: 1,
            data: &data,
            regs: ExitRegs::Synced(&Default::default()),
        };
        assert_eq!(out.name(), "KVM_EXIT_IO");
        assert_eq!(VmExit::Interrupted.name(), "KVM_EXIT_INTR");
        assert_eq!(
            VmExit::Other(KVM_EXIT_HYPERCALL).name(),
            "KVM_EXIT_HYPERCALL"
        );
        assert_eq!(VmExit::Other(999).name(), "KVM_EXIT_(other)");
        let malformed = VmExit::Malformed {
            reason: KVM_EXIT_IO,
            why: "test",
        };
        assert_eq!(malformed.name(), "KVM_EXIT_IO");
        assert_eq!(malformed.kind(), ExitKind::Other);
    }

    #[test]
    fn kinds_are_listed_in_their_own_order() {
        for (i, kind) in ExitKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i);
        }
        assert_eq!(ExitKind::Other.name(), "KVM_EXIT_(other)");
        assert_eq!(ExitKind::IoIn.name(), "KVM_EXIT_IO");
    }
}
