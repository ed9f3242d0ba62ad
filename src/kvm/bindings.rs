//! The KVM structures the core passes to and from the kernel, written by hand.
//!
//! Each struct mirrors one from `include/uapi/linux/kvm.h` or `arch/x86/include/uapi/asm/kvm.h`
//! field for field, `#[repr(C)]` so that Rust lays it out as C does, and the fields are grouped
//! on lines as the kernel's headers group them (`__u64 rax, rbx, rcx, rdx;`). A wrong field would
//! make the kernel read garbage, so each struct is followed by a `layout!`: compile-time checks
//! of its size and of the offset of fields, with the numbers `sizeof` and `offsetof` print for
//! the kernel's headers (gcc, x86-64). `Documentation/virt/kvm/api.rst` describes each structure
//! next to the ioctl that uses it; section 5 describes `struct kvm_run`. The structures of the
//! layers (interrupt controllers, CPUID, debugging...) sit in the file of the ioctls that use
//! them, in this directory.
#![allow(non_camel_case_types)]

/// Fails the build unless `$t` is `$size` bytes with each named field at its offset.
macro_rules! layout {
    ($t:ty, $size:expr $(, $field:ident @ $offset:expr)* $(,)?) => {
        const _: () = {
            assert!(::std::mem::size_of::<$t>() == $size, concat!("size of ", stringify!($t)));
            $(assert!(::std::mem::offset_of!($t, $field) == $offset,
                concat!("offset of ", stringify!($t), ".", stringify!($field)));)*
        };
    };
}
pub(crate) use layout;

/// The general registers, RIP and RFLAGS (KVM_GET_REGS, KVM_SET_REGS; api.rst 4.11).
#[rustfmt::skip]
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct kvm_regs {
    pub rax: u64, pub rbx: u64, pub rcx: u64, pub rdx: u64,
    pub rsi: u64, pub rdi: u64, pub rsp: u64, pub rbp: u64,
    pub r8: u64, pub r9: u64, pub r10: u64, pub r11: u64,
    pub r12: u64, pub r13: u64, pub r14: u64, pub r15: u64,
    pub rip: u64, pub rflags: u64,
}
layout!(kvm_regs, 144, rax @ 0, rbx @ 8, rsp @ 48, r8 @ 64, r15 @ 120, rip @ 128, rflags @ 136);

/// A segment register as the CPU caches it: the selector plus the base, limit and attributes
/// loaded from its descriptor (Intel SDM Vol. 3A, 3.4.3 and 3.4.5). `type_` is the
/// descriptor's type field, `s` 1 for code or data, `db` the default size (0: 16-bit), `l` a
/// 64-bit code segment, `g` a limit counted in 4 KiB pages.
#[rustfmt::skip]
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct kvm_segment {
    pub base: u64, pub limit: u32, pub selector: u16,
    pub type_: u8, pub present: u8, pub dpl: u8, pub db: u8, pub s: u8, pub l: u8, pub g: u8,
    pub avl: u8, pub unusable: u8, pub padding: u8,
}
layout!(kvm_segment, 24, limit @ 8, selector @ 12, type_ @ 14, dpl @ 16, l @ 19, padding @ 23);

/// GDTR or IDTR: a descriptor table's base and limit (Intel SDM Vol. 3A, 2.4).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct kvm_dtable {
    pub base: u64,
    pub limit: u16,
    pub padding: [u16; 3],
}
layout!(kvm_dtable, 16, limit @ 8);

/// Segments, descriptor tables and control registers (KVM_GET_SREGS, KVM_SET_SREGS; 4.13).
#[rustfmt::skip]
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct kvm_sregs {
    pub cs: kvm_segment, pub ds: kvm_segment, pub es: kvm_segment, pub fs: kvm_segment,
    pub gs: kvm_segment, pub ss: kvm_segment, pub tr: kvm_segment, pub ldt: kvm_segment,
    pub gdt: kvm_dtable, pub idt: kvm_dtable,
    pub cr0: u64, pub cr2: u64, pub cr3: u64, pub cr4: u64, pub cr8: u64,
    pub efer: u64, pub apic_base: u64, pub interrupt_bitmap: [u64; 4],
}
layout!(kvm_sregs, 312, ss @ 120, gdt @ 192, cr0 @ 224, efer @ 264, interrupt_bitmap @ 280);

/// One memory slot: guest-physical `guest_phys_addr..+memory_size` is the host memory at
/// `userspace_addr` (KVM_SET_USER_MEMORY_REGION, api.rst 4.35).
#[rustfmt::skip]
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_userspace_memory_region {
    pub slot: u32, pub flags: u32,
    pub guest_phys_addr: u64, pub memory_size: u64, pub userspace_addr: u64,
}
layout!(kvm_userspace_memory_region, 32, guest_phys_addr @ 8, userspace_addr @ 24);

/// KVM_EXIT_IO: `count` accesses of `size` bytes each to `port`; the data is in the run
/// mapping at `data_offset` (api.rst 5, "KVM_EXIT_IO").
#[rustfmt::skip]
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_run_io { pub direction: u8, pub size: u8, pub port: u16, pub count: u32, pub data_offset: u64 }
layout!(kvm_run_io, 16, port @ 2, count @ 4, data_offset @ 8);
pub const KVM_EXIT_IO_OUT: u8 = 1;

/// KVM_EXIT_MMIO: a load or store of `len` bytes where no memory slot is.
#[rustfmt::skip]
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_run_mmio { pub phys_addr: u64, pub data: [u8; 8], pub len: u32, pub is_write: u8 }
layout!(kvm_run_mmio, 24, data @ 8, len @ 16, is_write @ 20);

/// KVM_EXIT_FAIL_ENTRY: the CPU refused to enter the guest (the hardware's reason code).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_run_fail_entry {
    pub hardware_entry_failure_reason: u64,
    pub cpu: u32,
}
layout!(kvm_run_fail_entry, 16, cpu @ 8);

/// KVM_EXIT_INTERNAL_ERROR and KVM_EXIT_SYSTEM_EVENT: a kind and up to 16 words of detail.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_run_words {
    pub kind: u32,
    pub ndata: u32,
    pub data: [u64; 16],
}
layout!(kvm_run_words, 136, ndata @ 4, data @ 8);

/// KVM_EXIT_DEBUG: the exception (1 #DB, 3 #BP) and the linear address of the next instruction.
#[rustfmt::skip]
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_debug_exit_arch { pub exception: u32, pub pad: u32, pub pc: u64, pub dr6: u64, pub dr7: u64 }
layout!(kvm_debug_exit_arch, 32, pc @ 8, dr7 @ 24);

/// The part of `kvm_run` that `exit_reason` selects.
#[repr(C)]
#[derive(Clone, Copy)]
pub union kvm_run_exit {
    pub io: kvm_run_io,
    pub mmio: kvm_run_mmio,
    pub fail_entry: kvm_run_fail_entry,
    pub words: kvm_run_words,
    pub debug: kvm_debug_exit_arch,
    pub padding: [u8; 256],
}
layout!(kvm_run_exit, 256);

/// `struct kvm_run`, the page KVM shares with each vCPU (api.rst 5). `s` holds the registers
/// KVM copies out at each exit when asked (`kvm_valid_regs`, KVM_CAP_SYNC_REGS, 8.17): the
/// general registers, then the special ones.
#[rustfmt::skip]
#[repr(C)]
pub struct kvm_run {
    pub request_interrupt_window: u8, pub immediate_exit: u8, pub padding1: [u8; 6],
    pub exit_reason: u32, pub ready_for_interrupt_injection: u8, pub if_flag: u8, pub flags: u16,
    pub cr8: u64, pub apic_base: u64,
    pub exit: kvm_run_exit,
    pub kvm_valid_regs: u64, pub kvm_dirty_regs: u64,
    pub regs: kvm_regs, pub sregs: kvm_sregs, pub s_rest: [u8; 2048 - 456],
}
layout!(kvm_run, 2352, immediate_exit @ 1, exit_reason @ 8, exit @ 32, kvm_valid_regs @ 288, regs @ 304, sregs @ 448);
pub const KVM_SYNC_X86_REGS: u64 = 1 << 0;
pub const KVM_SYNC_X86_SREGS: u64 = 1 << 1;

// Exit reasons (`KVM_EXIT_*` in <linux/kvm.h>).
pub const KVM_EXIT_IO: u32 = 2;
pub const KVM_EXIT_DEBUG: u32 = 4;
pub const KVM_EXIT_HLT: u32 = 5;
pub const KVM_EXIT_MMIO: u32 = 6;
pub const KVM_EXIT_SHUTDOWN: u32 = 8;
pub const KVM_EXIT_FAIL_ENTRY: u32 = 9;
pub const KVM_EXIT_INTR: u32 = 10;
pub const KVM_EXIT_INTERNAL_ERROR: u32 = 17;
pub const KVM_EXIT_SYSTEM_EVENT: u32 = 24;

// Capabilities (`KVM_CAP_*`, for KVM_CHECK_EXTENSION) the core relies on.
pub const KVM_CAP_USER_MEMORY: u32 = 3;
pub const KVM_CAP_SET_TSS_ADDR: u32 = 4;
pub const KVM_CAP_SYNC_REGS: u32 = 74;
pub const KVM_CAP_IMMEDIATE_EXIT: u32 = 136;
/// The only KVM API version there has ever been (KVM_GET_API_VERSION, api.rst 4.1).
pub const KVM_API_VERSION: i32 = 12;
