//! Real mode: the 16-bit state every x86 CPU starts in, and the seed's flat guests.
//!
//! In real mode (Intel SDM Vol. 3A, chapter 20 "8086 Emulation") an address is
//! `segment × 16 + offset`, both 16 bits, so a segment register reaches 64 KiB from its base and
//! there is no paging and no protection. A flat binary with `org 0` runs if CS:IP points at its
//! first byte.
//!
//! mini-kvm keeps the seed's layout so its binaries run unchanged: guest `i` (one per vCPU) gets
//! its own 256 KiB memory slot at guest-physical `i × 256 KiB`, its image is loaded at the start
//! of it, and CS = DS = ES = SS = `i × 0x4000` (so segment base = slot base), IP = 0. SP = 0:
//! the first `push` wraps it to 0xFFFE, the top of the 64 KiB the segment reaches.
//!
//! KVM_SET_SREGS (api.rst 4.14) sets the hidden parts of each segment register (base, limit,
//! attributes) directly; a real CPU would load them from `mov ds, ax`.

use super::set_data_segments;
use crate::kvm::bindings::{kvm_regs, kvm_segment, kvm_sregs};
use crate::x86::{CR0_ET, CR0_PE, CR0_PG, RFLAGS_RESERVED1};

/// Each real-mode guest's memory slot: 256 KiB.
pub const SLOT_SIZE: u64 = 0x40000;

/// Guest-physical base of guest `index`'s slot.
// [tour:slots]
pub fn slot_base(index: usize) -> u64 {
    index as u64 * SLOT_SIZE
}
// [/tour:slots]

/// A real-mode segment as the CPU caches it after loading `selector`.
fn segment(selector: u16, code: bool) -> kvm_segment {
    kvm_segment {
        base: u64::from(selector) << 4,
        limit: 0xFFFF,
        selector,
        // Accessed read/write data (0x3) or accessed execute/read code (0xB).
        type_: if code { 0xB } else { 0x3 },
        present: 1,
        dpl: 0,
        db: 0,
        s: 1,
        l: 0,
        g: 0,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// Edits the vCPU's special registers (as read from KVM) into guest `index`'s start state.
// [tour:real-mode-sregs]
pub fn set_sregs(sregs: &mut kvm_sregs, index: usize) {
    let selector = (slot_base(index) >> 4) as u16;
    sregs.cs = segment(selector, true);
    set_data_segments(sregs, segment(selector, false));
    sregs.cr0 = (sregs.cr0 | CR0_ET) & !(CR0_PE | CR0_PG);
}
// [/tour:real-mode-sregs]

/// General registers at start: IP = 0, SP = 0, interrupts off.
pub fn initial_regs() -> kvm_regs {
    kvm_regs {
        rip: 0,
        rsp: 0,
        rflags: RFLAGS_RESERVED1,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guests_get_the_seed_layout() {
        assert_eq!(slot_base(0), 0);
        assert_eq!(slot_base(3), 0xC0000);
        let mut sregs = kvm_sregs {
            cr0: 0x6000_0010 | CR0_PE,
            ..Default::default()
        };
        set_sregs(&mut sregs, 2);
        assert_eq!(sregs.cs.selector, 0x8000);
        assert_eq!(sregs.cs.base, 0x80000);
        assert_eq!(sregs.ss.selector, 0x8000);
        assert_eq!(sregs.ds.base, slot_base(2));
        assert_eq!(sregs.cs.limit, 0xFFFF);
        assert_eq!(sregs.cs.type_, 0xB);
        assert_eq!(sregs.ds.type_, 0x3);
        assert_eq!(sregs.cr0 & CR0_PE, 0, "real mode");
        assert_eq!(sregs.cr0 & 0x6000_0000, 0x6000_0000, "other CR0 bits kept");
        assert_eq!(initial_regs().rflags, 2);
    }
}
