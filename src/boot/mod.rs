//! Boot protocols: how a guest image gets into memory and what state its vCPU starts in.
//!
//! A real PC starts in real mode at 0xFFFF0 and leaves the rest to firmware. A VMM can skip the
//! firmware: it writes the image into guest RAM itself and sets the registers with
//! KVM_SET_REGS/KVM_SET_SREGS to the state the image expects to start in.
//!
//! | protocol      | chosen when                            | file          |
//! |---------------|----------------------------------------|---------------|
//! | real mode     | a flat binary (the default)            | [`realmode`]  |
//! | long mode     | `--long-mode`, or a 64-bit built-in    | [`longmode`]  |
//! | 32-bit paging | `--paging` (the seed's flat kernels)   | [`paging32`]  |
//! | Multiboot v1  | the file is a Multiboot kernel          | [`multiboot`] |
//! | Linux x86     | `--linux BZIMAGE`                       | [`linux`], [`zeropage`] |
//!
//! The kind of a file is recognised from its contents: an ELF file or a file with a Multiboot
//! header is a kernel; anything else is a flat binary. [`choose`] (plan.rs) picks the protocol
//! for a run, [`Plan::load`] writes each guest into memory, and the [`Start`] it returns
//! (start.rs) sets the vCPU's first registers. Why a guest cannot boot is in [`error`].

pub mod elf;
pub mod error;
pub mod linux;
pub mod longmode;
pub mod multiboot;
pub mod paging32;
mod plan;
pub mod realmode;
mod start;
pub mod zeropage;

pub use plan::{choose, Layout, Mode, Plan, PlanError};
pub use start::Start;

use crate::kvm::bindings::{kvm_segment, kvm_sregs};

/// A flat segment: base 0, 4 GiB limit, ring 0, as every protected- and long-mode setup here
/// uses (Intel SDM Vol. 3A, 3.4.5). `type_` 0xB is execute/read code, 0x3 read/write data;
/// a 64-bit code segment has L = 1 and must have D = 0.
// [tour:flat-segment]
pub fn flat_segment(selector: u16, code: bool, long_mode: bool) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xFFFF_FFFF,
        selector,
        type_: if code { 0xB } else { 0x3 },
        present: 1,
        dpl: 0,
        db: u8::from(!(code && long_mode)),
        s: 1,
        l: u8::from(code && long_mode),
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}
// [/tour:flat-segment]

/// Loads the same segment into DS, ES, FS, GS and SS.
pub fn set_data_segments(sregs: &mut kvm_sregs, segment: kvm_segment) {
    for seg in [
        &mut sregs.ds,
        &mut sregs.es,
        &mut sregs.fs,
        &mut sregs.gs,
        &mut sregs.ss,
    ] {
        *seg = segment;
    }
}

/// Guest RAM for a Multiboot kernel unless `--mem` says otherwise.
pub const DEFAULT_KERNEL_RAM: u64 = 32 << 20;

/// RAM below 4 GiB ends here, as on a PC: 3 GiB to 4 GiB is the hole where the LAPIC, the
/// IOAPIC and KVM's TSS pages live.
pub const LOW_RAM_END: u64 = 3 << 30;
/// RAM beyond the first 3 GiB continues here, above the hole.
pub const HIGH_RAM_START: u64 = 4 << 30;

/// RAM below the hole, where a Multiboot kernel and its modules are loaded, for `ram` bytes.
pub fn low_ram(ram: u64) -> u64 {
    ram.min(LOW_RAM_END)
}

/// Guest RAM is one mapping with guest-physical address == offset; above 3 GiB it includes the
/// hole, which no memory slot covers (and which, never touched, costs nothing).
pub fn mapping_size(ram: u64) -> u64 {
    if ram > LOW_RAM_END {
        HIGH_RAM_START + (ram - LOW_RAM_END)
    } else {
        ram
    }
}
