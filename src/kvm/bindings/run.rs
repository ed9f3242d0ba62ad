//! The shared run page: `struct kvm_run`, the page each vCPU fd maps, through which KVM_RUN
//! says why the guest stopped (api.rst section 5, "The kvm_run structure"), and the exit
//! reasons (`KVM_EXIT_*` in <linux/kvm.h>). Part of bindings.rs, checked the same way.

#![allow(non_camel_case_types)]

use super::*;

/// KVM_EXIT_IO: port I/O. The data of all `count` accesses (each `size` bytes) sits in the run
/// mapping at `data_offset`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_run_io {
    pub direction: u8,
    pub size: u8,
    pub port: u16,
    pub count: u32,
    pub data_offset: u64,
}
assert_layout!(kvm_run_io, size: 16, align: 8, {
    direction: 0, size: 1, port: 2, count: 4, data_offset: 8,
});
pub const KVM_EXIT_IO_IN: u8 = 0;
pub const KVM_EXIT_IO_OUT: u8 = 1;

/// KVM_EXIT_MMIO: a load or store to a guest-physical address no memory slot covers.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_run_mmio {
    pub phys_addr: u64,
    pub data: [u8; 8],
    pub len: u32,
    pub is_write: u8,
}
assert_layout!(kvm_run_mmio, size: 24, align: 8, { phys_addr: 0, data: 8, len: 16, is_write: 20 });

/// KVM_EXIT_FAIL_ENTRY: the hardware refused to enter the guest.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_run_fail_entry {
    pub hardware_entry_failure_reason: u64,
    pub cpu: u32,
}
assert_layout!(kvm_run_fail_entry, size: 16, align: 8, {
    hardware_entry_failure_reason: 0, cpu: 8,
});

/// KVM_EXIT_INTERNAL_ERROR: KVM could not continue (most often: it failed to emulate an
/// instruction).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_run_internal {
    pub suberror: u32,
    pub ndata: u32,
    pub data: [u64; 16],
}
assert_layout!(kvm_run_internal, size: 136, align: 8, { suberror: 0, ndata: 4, data: 8 });
pub const KVM_INTERNAL_ERROR_EMULATION: u32 = 1;
pub const KVM_INTERNAL_ERROR_SIMUL_EX: u32 = 2;
pub const KVM_INTERNAL_ERROR_DELIVERY_EV: u32 = 3;
pub const KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON: u32 = 4;

/// KVM_EXIT_SYSTEM_EVENT: the guest asked for a shutdown, reset, crash report...
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_run_system_event {
    pub type_: u32,
    pub ndata: u32,
    pub data: [u64; 16],
}
assert_layout!(kvm_run_system_event, size: 136, align: 8, { type_: 0, ndata: 4, data: 8 });
pub const KVM_SYSTEM_EVENT_SHUTDOWN: u32 = 1;
pub const KVM_SYSTEM_EVENT_RESET: u32 = 2;
pub const KVM_SYSTEM_EVENT_CRASH: u32 = 3;

/// KVM_EXIT_DEBUG: a single-step or breakpoint (`struct kvm_debug_exit_arch` on x86).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_debug_exit_arch {
    pub exception: u32,
    pub pad: u32,
    pub pc: u64,
    pub dr6: u64,
    pub dr7: u64,
}
assert_layout!(kvm_debug_exit_arch, size: 32, align: 8, {
    exception: 0, pad: 4, pc: 8, dr6: 16, dr7: 24,
});

/// The exit-specific part of `kvm_run`: which member is valid depends on `exit_reason`.
#[repr(C)]
#[derive(Clone, Copy)]
pub union kvm_run_exit {
    pub io: kvm_run_io,
    pub mmio: kvm_run_mmio,
    pub fail_entry: kvm_run_fail_entry,
    pub internal: kvm_run_internal,
    pub system_event: kvm_run_system_event,
    pub debug: kvm_debug_exit_arch,
    pub hardware_exit_reason: u64,
    pub padding: [u8; 256],
}
assert_layout!(union kvm_run_exit, size: 256, align: 8, {
    io, mmio, fail_entry, internal, system_event, debug, hardware_exit_reason, padding,
});

/// `struct kvm_sync_regs` (x86): with KVM_CAP_SYNC_REGS, KVM copies the registers selected in
/// `kvm_valid_regs` here on every exit, saving a KVM_GET_REGS ioctl.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct kvm_sync_regs {
    pub regs: kvm_regs,
    pub sregs: kvm_sregs,
    /// `struct kvm_vcpu_events`, which mini-kvm never reads.
    pub events: [u8; 64],
}
assert_layout!(kvm_sync_regs, size: 520, align: 8, { regs: 0, sregs: 144, events: 456 });

pub const KVM_SYNC_X86_REGS: u64 = 1 << 0;
pub const KVM_SYNC_X86_SREGS: u64 = 1 << 1;

/// The page KVM shares with user space for each vCPU (mapped from the vCPU fd).
#[repr(C)]
pub struct kvm_run {
    // in
    pub request_interrupt_window: u8,
    /// Set to 1 to make the next (or the current, once interrupted by a signal) KVM_RUN return
    /// at once with EINTR: how another thread stops a vCPU without a race (api.rst 5).
    pub immediate_exit: u8,
    pub padding1: [u8; 6],
    // out
    pub exit_reason: u32,
    pub ready_for_interrupt_injection: u8,
    pub if_flag: u8,
    pub flags: u16,
    pub cr8: u64,
    pub apic_base: u64,
    pub exit: kvm_run_exit,
    pub kvm_valid_regs: u64,
    pub kvm_dirty_regs: u64,
    pub s: kvm_sync_regs,
    /// The kernel reserves 2048 bytes for `s`; x86 uses 520 of them.
    pub s_padding: [u8; 2048 - 520],
}
assert_layout!(kvm_run, size: 2352, align: 8, {
    request_interrupt_window: 0, immediate_exit: 1, padding1: 2, exit_reason: 8,
    ready_for_interrupt_injection: 12, if_flag: 13, flags: 14, cr8: 16, apic_base: 24, exit: 32,
    kvm_valid_regs: 288, kvm_dirty_regs: 296, s: 304, s_padding: 824,
});

// Exit reasons (`KVM_EXIT_*` in <linux/kvm.h>).
pub const KVM_EXIT_UNKNOWN: u32 = 0;
pub const KVM_EXIT_EXCEPTION: u32 = 1;
pub const KVM_EXIT_IO: u32 = 2;
pub const KVM_EXIT_HYPERCALL: u32 = 3;
pub const KVM_EXIT_DEBUG: u32 = 4;
pub const KVM_EXIT_HLT: u32 = 5;
pub const KVM_EXIT_MMIO: u32 = 6;
pub const KVM_EXIT_IRQ_WINDOW_OPEN: u32 = 7;
pub const KVM_EXIT_SHUTDOWN: u32 = 8;
pub const KVM_EXIT_FAIL_ENTRY: u32 = 9;
pub const KVM_EXIT_INTR: u32 = 10;
pub const KVM_EXIT_INTERNAL_ERROR: u32 = 17;
pub const KVM_EXIT_SYSTEM_EVENT: u32 = 24;

/// What [`exit_reason_name`] calls a reason this table does not list.
pub const OTHER_EXIT_NAME: &str = "KVM_EXIT_(other)";

/// The kernel's name for an exit reason: the one table of `KVM_EXIT_*` names, which
/// `VmExit::name` and through it traces, statistics and messages use.
pub fn exit_reason_name(reason: u32) -> &'static str {
    match reason {
        KVM_EXIT_UNKNOWN => "KVM_EXIT_UNKNOWN",
        KVM_EXIT_EXCEPTION => "KVM_EXIT_EXCEPTION",
        KVM_EXIT_IO => "KVM_EXIT_IO",
        KVM_EXIT_HYPERCALL => "KVM_EXIT_HYPERCALL",
        KVM_EXIT_DEBUG => "KVM_EXIT_DEBUG",
        KVM_EXIT_HLT => "KVM_EXIT_HLT",
        KVM_EXIT_MMIO => "KVM_EXIT_MMIO",
        KVM_EXIT_IRQ_WINDOW_OPEN => "KVM_EXIT_IRQ_WINDOW_OPEN",
        KVM_EXIT_SHUTDOWN => "KVM_EXIT_SHUTDOWN",
        KVM_EXIT_FAIL_ENTRY => "KVM_EXIT_FAIL_ENTRY",
        KVM_EXIT_INTR => "KVM_EXIT_INTR",
        KVM_EXIT_INTERNAL_ERROR => "KVM_EXIT_INTERNAL_ERROR",
        KVM_EXIT_SYSTEM_EVENT => "KVM_EXIT_SYSTEM_EVENT",
        _ => OTHER_EXIT_NAME,
    }
}
