//! The names <linux/kvm.h> gives exit reasons, for messages, traces and statistics.

use super::bindings::*;
use super::Exit;

impl Exit {
    /// The kernel's name for this exit's reason.
    pub fn name(&self) -> &'static str {
        let reason = match self {
            Exit::Io { .. } => KVM_EXIT_IO,
            Exit::Mmio { .. } => KVM_EXIT_MMIO,
            Exit::Hlt => KVM_EXIT_HLT,
            Exit::Shutdown => KVM_EXIT_SHUTDOWN,
            Exit::FailEntry { .. } => KVM_EXIT_FAIL_ENTRY,
            Exit::InternalError { .. } => KVM_EXIT_INTERNAL_ERROR,
            Exit::SystemEvent { .. } => KVM_EXIT_SYSTEM_EVENT,
            Exit::Debug { .. } => KVM_EXIT_DEBUG,
            Exit::Interrupted => KVM_EXIT_INTR,
            Exit::Malformed { reason, .. } | Exit::Other(reason) => *reason,
        };
        reason_name(reason)
    }
}

/// `KVM_EXIT_*` by number, as <linux/kvm.h> names them (0 to 24; the rest by number alone).
pub fn reason_name(reason: u32) -> &'static str {
    #[rustfmt::skip]
    const NAMES: [&str; 25] = [
        "KVM_EXIT_UNKNOWN", "KVM_EXIT_EXCEPTION", "KVM_EXIT_IO", "KVM_EXIT_HYPERCALL",
        "KVM_EXIT_DEBUG", "KVM_EXIT_HLT", "KVM_EXIT_MMIO", "KVM_EXIT_IRQ_WINDOW_OPEN",
        "KVM_EXIT_SHUTDOWN", "KVM_EXIT_FAIL_ENTRY", "KVM_EXIT_INTR", "KVM_EXIT_SET_TPR",
        "KVM_EXIT_TPR_ACCESS", "KVM_EXIT_S390_SIEIC", "KVM_EXIT_S390_RESET", "KVM_EXIT_DCR",
        "KVM_EXIT_NMI", "KVM_EXIT_INTERNAL_ERROR", "KVM_EXIT_OSI", "KVM_EXIT_PAPR_HCALL",
        "KVM_EXIT_S390_UCONTROL", "KVM_EXIT_WATCHDOG", "KVM_EXIT_S390_TSCH", "KVM_EXIT_EPR",
        "KVM_EXIT_SYSTEM_EVENT",
    ];
    NAMES.get(reason as usize).copied().unwrap_or("KVM_EXIT_(other)")
}
