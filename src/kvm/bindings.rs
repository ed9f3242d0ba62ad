//! The KVM structures mini-kvm passes to and from the kernel, written by hand.
//!
//! Each struct mirrors one from `include/uapi/linux/kvm.h` or `arch/x86/include/uapi/asm/kvm.h`
//! field for field, with `#[repr(C)]` so Rust lays it out as C does. A wrong field would make the
//! kernel read garbage, so every struct is followed by an `assert_layout!`: compile-time checks of
//! its size, its alignment and the offset of every field, with the numbers `sizeof`, `_Alignof`
//! and `offsetof` print for the kernel headers (gcc, x86-64).
//! `Documentation/virt/kvm/api.rst` describes each structure next to the ioctl that uses it.
//! Names keep the kernel's spelling so they can be looked up there.

#![allow(non_camel_case_types)]

use std::mem::{align_of, size_of};

/// Fails the build unless struct `$t` is `size` bytes, aligned to `align`, and has each field at
/// the offset given. The fields must all be listed: the struct pattern in the closure (never
/// called) names them without `..`, so a field left out, or added to the struct later, is a
/// compile error. A union gets the same checks under `union` (its members all sit at 0).
macro_rules! assert_layout {
    ($t:ident, size: $size:expr, align: $align:expr, { $($field:ident: $offset:expr),+ $(,)? }) => {
        const _: () = {
            use ::std::mem::{align_of, offset_of, size_of};
            assert!(size_of::<$t>() == $size, concat!("size of ", stringify!($t)));
            assert!(align_of::<$t>() == $align, concat!("alignment of ", stringify!($t)));
            $(assert!(
                offset_of!($t, $field) == $offset,
                concat!("offset of ", stringify!($t), ".", stringify!($field))
            );)+
            let _every_field_is_listed = |v: $t| {
                let $t { $($field: _),+ } = v;
            };
        };
    };
    (union $t:ident, size: $size:expr, align: $align:expr, { $($field:ident),+ $(,)? }) => {
        const _: () = {
            use ::std::mem::{align_of, offset_of, size_of};
            assert!(size_of::<$t>() == $size, concat!("size of ", stringify!($t)));
            assert!(align_of::<$t>() == $align, concat!("alignment of ", stringify!($t)));
            $(assert!(
                offset_of!($t, $field) == 0,
                concat!("offset of ", stringify!($t), ".", stringify!($field))
            );)+
        };
    };
}
pub(crate) use assert_layout;

// ---------------------------------------------------------------------------------------------
// Registers: KVM_GET_REGS / KVM_SET_REGS (api.rst 4.11, 4.12).

/// The general-purpose registers, RIP and RFLAGS of one vCPU.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct kvm_regs {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rsp: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
}
assert_layout!(kvm_regs, size: 144, align: 8, {
    rax: 0, rbx: 8, rcx: 16, rdx: 24, rsi: 32, rdi: 40, rsp: 48, rbp: 56,
    r8: 64, r9: 72, r10: 80, r11: 88, r12: 96, r13: 104, r14: 112, r15: 120,
    rip: 128, rflags: 136,
});

// ---------------------------------------------------------------------------------------------
// Special registers: KVM_GET_SREGS / KVM_SET_SREGS (api.rst 4.13, 4.14).

/// A segment register as the CPU caches it: the visible selector plus the hidden base, limit and
/// attribute bits loaded from a descriptor (Intel SDM Vol. 3A, 3.4.3 and 3.4.5).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct kvm_segment {
    pub base: u64,
    pub limit: u32,
    pub selector: u16,
    /// Descriptor type field (code/data, accessed, readable/writable...).
    pub type_: u8,
    pub present: u8,
    /// Descriptor privilege level.
    pub dpl: u8,
    /// Default operation size: 0 = 16-bit, 1 = 32-bit.
    pub db: u8,
    /// 1 = code or data segment, 0 = system segment (TSS, LDT, gates).
    pub s: u8,
    /// 1 = 64-bit code segment (long mode).
    pub l: u8,
    /// Granularity: limit counted in 4 KiB units.
    pub g: u8,
    pub avl: u8,
    pub unusable: u8,
    pub padding: u8,
}
assert_layout!(kvm_segment, size: 24, align: 8, {
    base: 0, limit: 8, selector: 12, type_: 14, present: 15, dpl: 16, db: 17, s: 18, l: 19,
    g: 20, avl: 21, unusable: 22, padding: 23,
});

/// A descriptor-table register: GDTR or IDTR (base and limit, Intel SDM Vol. 3A, 2.4).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct kvm_dtable {
    pub base: u64,
    pub limit: u16,
    pub padding: [u16; 3],
}
assert_layout!(kvm_dtable, size: 16, align: 8, { base: 0, limit: 8, padding: 10 });

/// Segment registers, descriptor tables, control registers and EFER.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct kvm_sregs {
    pub cs: kvm_segment,
    pub ds: kvm_segment,
    pub es: kvm_segment,
    pub fs: kvm_segment,
    pub gs: kvm_segment,
    pub ss: kvm_segment,
    pub tr: kvm_segment,
    pub ldt: kvm_segment,
    pub gdt: kvm_dtable,
    pub idt: kvm_dtable,
    pub cr0: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub cr8: u64,
    pub efer: u64,
    pub apic_base: u64,
    /// One bit per interrupt vector pending injection (KVM_NR_INTERRUPTS = 256).
    pub interrupt_bitmap: [u64; 4],
}
assert_layout!(kvm_sregs, size: 312, align: 8, {
    cs: 0, ds: 24, es: 48, fs: 72, gs: 96, ss: 120, tr: 144, ldt: 168, gdt: 192, idt: 208,
    cr0: 224, cr2: 232, cr3: 240, cr4: 248, cr8: 256, efer: 264, apic_base: 272,
    interrupt_bitmap: 280,
});

// ---------------------------------------------------------------------------------------------
// Memory: KVM_SET_USER_MEMORY_REGION (api.rst 4.35).

/// Maps `memory_size` bytes of our address space at `userspace_addr` into the guest's physical
/// address space at `guest_phys_addr`, as memory slot `slot`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_userspace_memory_region {
    pub slot: u32,
    pub flags: u32,
    pub guest_phys_addr: u64,
    pub memory_size: u64,
    pub userspace_addr: u64,
}
assert_layout!(kvm_userspace_memory_region, size: 32, align: 8, {
    slot: 0, flags: 4, guest_phys_addr: 8, memory_size: 16, userspace_addr: 24,
});

// ---------------------------------------------------------------------------------------------
// CPUID: KVM_GET_SUPPORTED_CPUID / KVM_SET_CPUID2 (api.rst 4.46, 4.20).

/// One CPUID leaf (`function`) and sub-leaf (`index`) with the four registers it returns.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct kvm_cpuid_entry2 {
    pub function: u32,
    pub index: u32,
    pub flags: u32,
    pub eax: u32,
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
    pub padding: [u32; 3],
}
assert_layout!(kvm_cpuid_entry2, size: 40, align: 4, {
    function: 0, index: 4, flags: 8, eax: 12, ebx: 16, ecx: 20, edx: 24, padding: 28,
});

/// The header of a CPUID table; `nent` entries follow it in memory (a C flexible array).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_cpuid2 {
    pub nent: u32,
    pub padding: u32,
}
assert_layout!(kvm_cpuid2, size: 8, align: 4, { nent: 0, padding: 4 });

/// The most CPUID entries we ask KVM for (KVM itself allows 256).
pub const KVM_MAX_CPUID_ENTRIES: usize = 256;

/// `kvm_cpuid2` followed by room for its entries, laid out as the kernel expects.
#[repr(C)]
pub struct CpuidTable {
    pub header: kvm_cpuid2,
    pub entries: [kvm_cpuid_entry2; KVM_MAX_CPUID_ENTRIES],
}
assert_layout!(CpuidTable, size: 8 + 40 * KVM_MAX_CPUID_ENTRIES, align: 4, {
    header: 0, entries: 8,
});

// ---------------------------------------------------------------------------------------------
// Interrupts and timers: KVM_IRQ_LINE (api.rst 4.25), KVM_CREATE_PIT2 (4.67).

/// Sets the level of one input pin of the in-kernel interrupt controllers.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_irq_level {
    pub irq: u32,
    pub level: u32,
}
assert_layout!(kvm_irq_level, size: 8, align: 4, { irq: 0, level: 4 });

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_pit_config {
    pub flags: u32,
    pub pad: [u32; 15],
}
assert_layout!(kvm_pit_config, size: 64, align: 4, { flags: 0, pad: 4 });

/// `kvm_pit_config.flags`: emulate the PC speaker port (0x61) as a dummy.
pub const KVM_PIT_SPEAKER_DUMMY: u32 = 1;

/// A vCPU's multiprocessing state (api.rst 4.38, KVM_GET_MP_STATE): with an in-kernel irqchip,
/// KVM itself runs HLT, and this says whether the vCPU sits in it.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_mp_state {
    pub mp_state: u32,
}
assert_layout!(kvm_mp_state, size: 4, align: 4, { mp_state: 0 });

/// Halted (HLT), waiting for an interrupt.
pub const KVM_MP_STATE_HALTED: u32 = 3;

/// KVM_REINJECT_CONTROL (api.rst, "KVM_REINJECT_CONTROL"): with `pit_reinject` 1 (the
/// default) the in-kernel PIT counts every tick the guest could not take — while its vCPU was
/// not running — and delivers them all later, back to back; with 0 a missed tick is dropped.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_reinject_control {
    pub pit_reinject: u8,
    pub reserved: [u8; 31],
}
assert_layout!(kvm_reinject_control, size: 32, align: 1, { pit_reinject: 0, reserved: 1 });

// ---------------------------------------------------------------------------------------------
// Debugging: KVM_SET_GUEST_DEBUG (api.rst 4.59), KVM_TRANSLATE (4.15).

#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_guest_debug {
    pub control: u32,
    pub pad: u32,
    /// The x86 debug registers DR0-DR7 (`struct kvm_guest_debug_arch`).
    pub debugreg: [u64; 8],
}
assert_layout!(kvm_guest_debug, size: 72, align: 8, { control: 0, pad: 4, debugreg: 8 });

pub const KVM_GUESTDBG_ENABLE: u32 = 0x0000_0001;
pub const KVM_GUESTDBG_SINGLESTEP: u32 = 0x0000_0002;
pub const KVM_GUESTDBG_USE_SW_BP: u32 = 0x0001_0000;
/// Use `kvm_guest_debug.debugreg` as the guest's DR0-DR3/DR7 (instruction breakpoints that
/// trap in any ring, with no stepping); KVM_CAP_GUEST_DEBUG_HW_BPS says how many.
pub const KVM_GUESTDBG_USE_HW_BP: u32 = 0x0002_0000;
/// No interrupt is injected while single-stepping, so a step stays in the code stepped
/// (api.rst 4.59; supported when KVM_CAP_SET_GUEST_DEBUG2 includes it).
pub const KVM_GUESTDBG_BLOCKIRQ: u32 = 0x0010_0000;

/// Asks KVM to walk the guest's page tables for one linear address.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_translation {
    pub linear_address: u64,
    pub physical_address: u64,
    pub valid: u8,
    pub writeable: u8,
    pub usermode: u8,
    pub pad: [u8; 5],
}
assert_layout!(kvm_translation, size: 24, align: 8, {
    linear_address: 0, physical_address: 8, valid: 16, writeable: 17, usermode: 18, pad: 19,
});

// ---------------------------------------------------------------------------------------------
// Coalesced MMIO and PIO: KVM_(UN)REGISTER_COALESCED_MMIO (api.rst 4.116), KVM_CAP_COALESCED_PIO.

/// A range of guest-physical addresses (or, with `pio` = 1, of I/O ports) whose writes KVM
/// appends to a ring instead of leaving the guest. (`pio` is a union with `pad` in C.)
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct kvm_coalesced_mmio_zone {
    pub addr: u64,
    pub size: u32,
    pub pio: u32,
}
assert_layout!(kvm_coalesced_mmio_zone, size: 16, align: 8, { addr: 0, size: 8, pio: 12 });

/// One write KVM kept in the ring: where (`phys_addr`, a port when `pio` is 1), how many bytes
/// and the bytes themselves. (`pio` is a union with `pad` in C.)
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct kvm_coalesced_mmio {
    pub phys_addr: u64,
    pub len: u32,
    pub pio: u32,
    pub data: [u8; 8],
}
assert_layout!(kvm_coalesced_mmio, size: 24, align: 8, { phys_addr: 0, len: 8, pio: 12, data: 16 });

/// The ring's header, at the start of its page of the vCPU mapping (page KVM_CAP_COALESCED_MMIO
/// returns). KVM appends at `last`, user space consumes at `first`; the entries follow the
/// header, `KVM_COALESCED_MMIO_MAX` of them.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct kvm_coalesced_mmio_ring {
    pub first: u32,
    pub last: u32,
    /// The C flexible array `coalesced_mmio[]`: no bytes here, but it gives the header the
    /// entries' alignment (8), as in C.
    pub coalesced_mmio: [kvm_coalesced_mmio; 0],
}
assert_layout!(kvm_coalesced_mmio_ring, size: 8, align: 8, {
    first: 0, last: 4, coalesced_mmio: 8,
});

/// The ring is one page (x86: 4 KiB).
pub const KVM_COALESCED_PAGE_SIZE: usize = 4096;
/// Where the entries start: right after the header.
pub const KVM_COALESCED_ENTRIES_OFFSET: usize =
    std::mem::offset_of!(kvm_coalesced_mmio_ring, coalesced_mmio);
const _: () =
    assert!(KVM_COALESCED_ENTRIES_OFFSET.is_multiple_of(align_of::<kvm_coalesced_mmio>()));
/// `KVM_COALESCED_MMIO_MAX`: (PAGE_SIZE - sizeof(ring)) / sizeof(entry) = 170 on x86.
pub const KVM_COALESCED_MMIO_MAX: u32 = ((KVM_COALESCED_PAGE_SIZE - KVM_COALESCED_ENTRIES_OFFSET)
    / size_of::<kvm_coalesced_mmio>()) as u32;
const _: () = assert!(KVM_COALESCED_MMIO_MAX == 170);

// Capabilities (`KVM_CAP_*`), asked with KVM_CHECK_EXTENSION (api.rst 4.4, 8).
pub const KVM_CAP_IRQCHIP: u32 = 0;
pub const KVM_CAP_COALESCED_MMIO: u32 = 15;
pub const KVM_CAP_USER_MEMORY: u32 = 3;
pub const KVM_CAP_SET_TSS_ADDR: u32 = 4;
pub const KVM_CAP_EXT_CPUID: u32 = 7;
pub const KVM_CAP_NR_VCPUS: u32 = 9;
pub const KVM_CAP_REINJECT_CONTROL: u32 = 24;
pub const KVM_CAP_PIT2: u32 = 33;
pub const KVM_CAP_MAX_VCPUS: u32 = 66;
pub const KVM_CAP_SYNC_REGS: u32 = 74;
pub const KVM_CAP_GUEST_DEBUG_HW_BPS: u32 = 119;
pub const KVM_CAP_IMMEDIATE_EXIT: u32 = 136;
pub const KVM_CAP_COALESCED_PIO: u32 = 162;
/// Answers with the KVM_GUESTDBG_* flags this KVM supports.
pub const KVM_CAP_SET_GUEST_DEBUG2: u32 = 195;

/// The only KVM API version there has ever been in mainline Linux (api.rst 4.1).
pub const KVM_API_VERSION: i32 = 12;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_reason_names_follow_the_kernel() {
        assert_eq!(exit_reason_name(2), "KVM_EXIT_IO");
        assert_eq!(exit_reason_name(5), "KVM_EXIT_HLT");
        assert_eq!(exit_reason_name(8), "KVM_EXIT_SHUTDOWN");
        assert_eq!(exit_reason_name(17), "KVM_EXIT_INTERNAL_ERROR");
        assert_eq!(exit_reason_name(24), "KVM_EXIT_SYSTEM_EVENT");
        assert_eq!(exit_reason_name(999), "KVM_EXIT_(other)");
    }
}

// The shared run page and the exit reasons, in a file of their own (the largest structure).
mod run;
pub use run::*;
