//! The in-kernel interrupt controllers and timer, and the vCPU's run state: KVM_CREATE_IRQCHIP
//! (api.rst 4.24), KVM_IRQ_LINE (4.25), KVM_CREATE_PIT2 (4.67), KVM_REINJECT_CONTROL (4.71),
//! KVM_GET_MP_STATE (4.38). An OS kernel expects interrupt hardware: with these, KVM emulates
//! the two 8259 PICs, the IOAPIC, a local APIC per vCPU and the 8254 PIT itself, with no exit.
#![allow(non_camel_case_types)]

use super::bindings::layout;
use super::{io, ioctl_ptr, ioctl_val, ior, iow, KvmError, Vcpu, Vm};

/// An input pin of the in-kernel PIC/IOAPIC and its level (KVM_IRQ_LINE).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_irq_level {
    pub irq: u32,
    pub level: u32,
}
layout!(kvm_irq_level, 8, level @ 4);

/// KVM_CREATE_PIT2's flags.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_pit_config {
    pub flags: u32,
    pub pad: [u32; 15],
}
layout!(kvm_pit_config, 64);
/// Port 0x61 (the PC speaker) is a dummy, not PIT channel 2's gate and output.
pub const KVM_PIT_SPEAKER_DUMMY: u32 = 1;

/// Whether the PIT replays ticks that were due while no vCPU ran.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_reinject_control {
    pub pit_reinject: u8,
    pub reserved: [u8; 31],
}
layout!(kvm_reinject_control, 32);

/// A vCPU's run state (KVM_GET_MP_STATE).
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_mp_state {
    pub mp_state: u32,
}
layout!(kvm_mp_state, 4);
/// An application processor that has not been started: it waits inside KVM for INIT and
/// STARTUP IPIs (KVM creates every vCPU but vCPU 0 so when there is an in-kernel irqchip).
pub const KVM_MP_STATE_UNINITIALIZED: u32 = 1;
/// The vCPU waits in `hlt` for an interrupt.
pub const KVM_MP_STATE_HALTED: u32 = 3;

pub const KVM_CAP_IRQCHIP: u32 = 0;
pub const KVM_CAP_REINJECT_CONTROL: u32 = 24;
pub const KVM_CAP_PIT2: u32 = 33;

impl Vm {
    /// KVM_CREATE_IRQCHIP: the 8259 PIC pair, the IOAPIC and the local APICs. Before any vCPU.
    pub fn create_irqchip(&self) -> Result<(), KvmError> {
        ioctl_val(self.raw_fd(), "KVM_CREATE_IRQCHIP", io(0x60), 0).map(drop)
    }

    /// KVM_CREATE_PIT2: an 8254 on ports 0x40-0x43, wired to IRQ 0. With `speaker`, KVM also
    /// emulates port 0x61, whose bits gate channel 2 and show its output (how Linux
    /// calibrates the TSC against the PIT); otherwise 0x61 is a dummy.
    pub fn create_pit2(&self, speaker: bool) -> Result<(), KvmError> {
        let flags = if speaker { 0 } else { KVM_PIT_SPEAKER_DUMMY };
        let mut config = kvm_pit_config { flags, pad: [0; 15] };
        let request = iow::<kvm_pit_config>(0x77);
        // SAFETY: KVM_CREATE_PIT2 (_IOW) only reads one kvm_pit_config.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_CREATE_PIT2", request, &mut config) }.map(drop)
    }

    /// KVM_REINJECT_CONTROL: whether the PIT replays ticks missed while no vCPU ran (a
    /// debugger turns it off, so that time held at a stop is not replayed as a burst).
    pub fn reinject_control(&self, reinject: bool) -> Result<(), KvmError> {
        let mut control =
            kvm_reinject_control { pit_reinject: reinject.into(), ..Default::default() };
        // SAFETY: KVM_REINJECT_CONTROL (an _IO number, but api.rst gives it a pointer) only
        // reads one kvm_reinject_control.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_REINJECT_CONTROL", io(0x71), &mut control) }
            .map(drop)
    }

    // [tour:irq-line]
    /// KVM_IRQ_LINE: drives input pin `irq` of the in-kernel PIC and IOAPIC high or low.
    pub fn irq_line(&self, irq: u32, high: bool) -> Result<(), KvmError> {
        let mut level = kvm_irq_level { irq, level: high.into() };
        let request = iow::<kvm_irq_level>(0x61);
        // SAFETY: KVM_IRQ_LINE (_IOW) only reads one kvm_irq_level.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_IRQ_LINE", request, &mut level) }.map(drop)
    }
    // [/tour:irq-line]
}

impl Vcpu {
    /// KVM_GET_MP_STATE: KVM_MP_STATE_HALTED while the vCPU waits in `hlt` inside KVM.
    pub fn get_mp_state(&self) -> Result<u32, KvmError> {
        let mut state = kvm_mp_state::default();
        let request = ior::<kvm_mp_state>(0x98);
        // SAFETY: KVM_GET_MP_STATE (_IOR) writes exactly one kvm_mp_state.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_GET_MP_STATE", request, &mut state) }?;
        Ok(state.mp_state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_numbers_match_linux_kvm_h() {
        assert_eq!(io(0x60), 0xAE60);
        assert_eq!(iow::<kvm_irq_level>(0x61), 0x4008_AE61);
        assert_eq!(iow::<kvm_pit_config>(0x77), 0x4040_AE77);
        assert_eq!(io(0x71), 0xAE71);
        assert_eq!(ior::<kvm_mp_state>(0x98), 0x8004_AE98);
    }
}
