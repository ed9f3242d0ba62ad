//! The in-kernel local APIC's registers, as KVM keeps them for each vCPU: KVM_GET_LAPIC and
//! KVM_SET_LAPIC (api.rst 4.57, 4.58). The page is the xAPIC's register file (Intel SDM Vol.
//! 3A, 11.4.1, Table 11-1): 1 KiB, one 32-bit register every 16 bytes.
//!
//! A VMM sets it for two reasons a student would not guess. A PC's firmware leaves LINT0 wired
//! to the 8259 (ExtINT) and LINT1 to NMI, and kernels expect that. And KVM rebuilds its map
//! from APIC IDs to vCPUs only when a LAPIC's state is set: until then an INIT/STARTUP IPI to
//! another CPU reaches no one. So every vCPU's LAPIC is read and written back once all exist.
#![allow(non_camel_case_types)]

use super::bindings::layout;
use super::{ioctl_ptr, ior, iow, KvmError, Vcpu};

/// The register page (`KVM_APIC_REG_SIZE`).
#[repr(C)]
#[derive(Clone, Copy)]
pub struct kvm_lapic_state {
    pub regs: [u8; 0x400],
}
layout!(kvm_lapic_state, 0x400);

/// Local vector table entries for the LINT0 and LINT1 pins (SDM Table 11-1).
pub const APIC_LVT_LINT0: usize = 0x350;
pub const APIC_LVT_LINT1: usize = 0x360;
/// LVT delivery modes (SDM 11.5.1, bits 8-10): the 8259's vector, or a non-maskable interrupt.
pub const APIC_MODE_EXTINT: u32 = 0b111 << 8;
pub const APIC_MODE_NMI: u32 = 0b100 << 8;
/// LVT mask bit (SDM 11.5.1, bit 16): the pin delivers nothing.
pub const APIC_LVT_MASKED: u32 = 1 << 16;

impl kvm_lapic_state {
    /// The 32-bit register at byte `offset`.
    #[cfg(test)]
    pub fn get(&self, offset: usize) -> u32 {
        u32::from_le_bytes(self.regs[offset..offset + 4].try_into().unwrap_or_default())
    }

    pub fn set(&mut self, offset: usize, value: u32) {
        self.regs[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    }
}

impl Vcpu {
    /// KVM_GET_LAPIC: this vCPU's local APIC registers.
    pub fn get_lapic(&self) -> Result<kvm_lapic_state, KvmError> {
        let mut state = kvm_lapic_state { regs: [0; 0x400] };
        let request = ior::<kvm_lapic_state>(0x8E);
        // SAFETY: KVM_GET_LAPIC (_IOR) writes exactly one kvm_lapic_state.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_GET_LAPIC", request, &mut state) }?;
        Ok(state)
    }

    /// KVM_SET_LAPIC: sets this vCPU's local APIC registers.
    pub fn set_lapic(&self, state: &kvm_lapic_state) -> Result<(), KvmError> {
        let mut state = *state;
        let request = iow::<kvm_lapic_state>(0x8F);
        // SAFETY: KVM_SET_LAPIC (_IOW) only reads one kvm_lapic_state.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_SET_LAPIC", request, &mut state) }.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_numbers_match_linux_kvm_h() {
        assert_eq!(ior::<kvm_lapic_state>(0x8E), 0x8400_AE8E);
        assert_eq!(iow::<kvm_lapic_state>(0x8F), 0x4400_AE8F);
    }

    #[test]
    fn registers_are_little_endian_words_at_their_offsets() {
        let mut s = kvm_lapic_state { regs: [0; 0x400] };
        s.set(APIC_LVT_LINT0, APIC_MODE_EXTINT);
        s.set(APIC_LVT_LINT1, APIC_MODE_NMI);
        assert_eq!(&s.regs[0x350..0x354], &[0x00, 0x07, 0, 0]);
        assert_eq!((s.get(APIC_LVT_LINT0), s.get(APIC_LVT_LINT1)), (0x700, 0x400));
    }
}
