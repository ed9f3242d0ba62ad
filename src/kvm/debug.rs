//! Debugging a guest: KVM_SET_GUEST_DEBUG (api.rst 4.59: single steps, software and hardware
//! breakpoints, each reported as KVM_EXIT_DEBUG) and KVM_TRANSLATE (4.15: a guest-linear
//! address through the guest's current page tables). The gdb stub's ioctls.
#![allow(non_camel_case_types)]

use super::bindings::kvm_sregs;
use super::bindings::layout;
use super::{ioctl_ptr, iow, iowr, KvmError, Vcpu};
use std::ptr::addr_of;

/// KVM_SET_GUEST_DEBUG's argument: `control` (KVM_GUESTDBG_*) and DR0-DR7 for hardware
/// breakpoints (`debugreg[7]` is DR7).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_guest_debug {
    pub control: u32,
    pub pad: u32,
    pub debugreg: [u64; 8],
}
layout!(kvm_guest_debug, 72, debugreg @ 8);
pub const KVM_GUESTDBG_ENABLE: u32 = 0x0000_0001;
pub const KVM_GUESTDBG_SINGLESTEP: u32 = 0x0000_0002;
pub const KVM_GUESTDBG_USE_SW_BP: u32 = 0x0001_0000;
pub const KVM_GUESTDBG_USE_HW_BP: u32 = 0x0002_0000;
/// Single steps with interrupts blocked, so a step does not land in an interrupt handler.
pub const KVM_GUESTDBG_BLOCKIRQ: u32 = 0x0010_0000;
pub const KVM_CAP_GUEST_DEBUG_HW_BPS: u32 = 119;
pub const KVM_CAP_SET_GUEST_DEBUG2: u32 = 195;

/// KVM_TRANSLATE's argument and answer.
#[rustfmt::skip]
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_translation {
    pub linear_address: u64, pub physical_address: u64,
    pub valid: u8, pub writeable: u8, pub usermode: u8, pub pad: [u8; 5],
}
layout!(kvm_translation, 24, physical_address @ 8, valid @ 16, usermode @ 18);

impl Vcpu {
    /// The special registers at the last exit, when KVM syncs them (else KVM_GET_SREGS).
    pub fn sregs_at_exit(&self) -> Result<kvm_sregs, KvmError> {
        match self.sync.1 {
            // SAFETY: as in regs_at_exit.
            true => Ok(unsafe { addr_of!((*self.page()).sregs).read_volatile() }),
            false => self.get_sregs(),
        }
    }

    /// KVM_SET_GUEST_DEBUG: `control` a KVM_GUESTDBG_* mask (0: off), with the debug registers
    /// the host loads for the guest while KVM_GUESTDBG_USE_HW_BP is set.
    pub fn set_guest_debug(&self, control: u32, debugreg: [u64; 8]) -> Result<(), KvmError> {
        let mut dbg = kvm_guest_debug { control, pad: 0, debugreg };
        let request = iow::<kvm_guest_debug>(0x9b);
        // SAFETY: KVM_SET_GUEST_DEBUG (_IOW) only reads one kvm_guest_debug.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_SET_GUEST_DEBUG", request, &mut dbg) }.map(drop)
    }

    /// KVM_TRANSLATE: walks the guest's current page tables for `linear`.
    pub fn translate(&self, linear: u64) -> Result<kvm_translation, KvmError> {
        let mut tr = kvm_translation { linear_address: linear, ..Default::default() };
        let request = iowr::<kvm_translation>(0x85);
        // SAFETY: KVM_TRANSLATE (_IOWR) reads and writes exactly one kvm_translation.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_TRANSLATE", request, &mut tr) }?;
        Ok(tr)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_numbers_match_linux_kvm_h() {
        assert_eq!(iow::<kvm_guest_debug>(0x9b), 0x4048_AE9B);
        assert_eq!(iowr::<kvm_translation>(0x85), 0xC018_AE85);
    }
}
