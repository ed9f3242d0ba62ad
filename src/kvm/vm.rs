//! The VM fd: guest memory slots, in-kernel interrupt controllers and timer, and vCPUs.
//!
//! api.rst 4.35 (KVM_SET_USER_MEMORY_REGION), 4.18 (KVM_SET_TSS_ADDR), 4.24 (KVM_CREATE_IRQCHIP),
//! 4.25 (KVM_IRQ_LINE), 4.67 (KVM_CREATE_PIT2), 4.7 (KVM_CREATE_VCPU).

use super::bindings::*;
use super::ioctl::*;
use super::{ioctl_with_ref, ioctl_with_val, KvmError, Vcpu};
use crate::memory::GuestMemory;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::Arc;

/// A memory slot mini-kvm will not ask for (a range outside the mapping, or a mapping the VM
/// does not keep alive), reported as KVM itself would: EINVAL.
const REGION_REFUSED: KvmError = KvmError {
    ioctl: "KVM_SET_USER_MEMORY_REGION",
    errno: libc::EINVAL,
};

/// A virtual machine.
pub struct Vm {
    fd: OwnedFd,
    /// Bytes to mmap from each vCPU fd (KVM_GET_VCPU_MMAP_SIZE).
    run_size: usize,
    /// The RAM behind every memory slot. KVM keeps using those host addresses for as long as this
    /// VM or any of its vCPUs exists, so the VM keeps the mapping alive (and vCPUs keep the VM).
    memory: Vec<Arc<GuestMemory>>,
}

impl Vm {
    pub(super) fn from_fd(fd: OwnedFd, run_size: usize) -> Vm {
        Vm {
            fd,
            run_size,
            memory: Vec::new(),
        }
    }

    pub(super) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub(super) fn run_size(&self) -> usize {
        self.run_size
    }

    /// KVM_SET_USER_MEMORY_REGION: guest-physical `gpa..gpa+size` becomes slot `slot`, backed by
    /// the same range of `memory` (mini-kvm places RAM at GPA == offset in the mapping). The VM
    /// keeps `memory` alive from now on.
    pub fn set_user_memory_region(
        &mut self,
        slot: u32,
        memory: &Arc<GuestMemory>,
        gpa: u64,
        size: u64,
    ) -> Result<(), KvmError> {
        if !self.keeps_alive(memory) {
            self.memory.push(Arc::clone(memory));
        }
        self.memory_region(slot, memory, gpa, size)
    }

    /// KVM_SET_USER_MEMORY_REGION on a VM already shared between threads, for a range of a
    /// mapping the VM already keeps alive (an earlier slot's); refused (EINVAL) otherwise.
    pub fn add_memory_region(
        &self,
        slot: u32,
        memory: &Arc<GuestMemory>,
        gpa: u64,
        size: u64,
    ) -> Result<(), KvmError> {
        if !self.keeps_alive(memory) {
            return Err(REGION_REFUSED);
        }
        self.memory_region(slot, memory, gpa, size)
    }

    fn keeps_alive(&self, memory: &Arc<GuestMemory>) -> bool {
        self.memory.iter().any(|m| Arc::ptr_eq(m, memory))
    }

    /// The ioctl behind both methods above, which make sure this VM keeps `memory` alive.
    fn memory_region(
        &self,
        slot: u32,
        memory: &Arc<GuestMemory>,
        gpa: u64,
        size: u64,
    ) -> Result<(), KvmError> {
        debug_assert!(self.keeps_alive(memory));
        let userspace_addr = memory.host_address(gpa, size).map_err(|_| REGION_REFUSED)?;
        // [tour:memory-region]
        let region = kvm_userspace_memory_region {
            slot,
            flags: 0,
            guest_phys_addr: gpa,
            memory_size: size,
            userspace_addr,
        };
        // SAFETY: KVM_SET_USER_MEMORY_REGION only reads one kvm_userspace_memory_region. The
        // host range it names lies inside `memory` (host_address checked it), which this VM
        // keeps alive for as long as it exists (each Vcpu holds an Arc to the Vm).
        unsafe {
            ioctl_with_ref(
                self.raw_fd(),
                "KVM_SET_USER_MEMORY_REGION",
                KVM_SET_USER_MEMORY_REGION,
                &region,
            )?;
        }
        // [/tour:memory-region]
        Ok(())
    }

    /// KVM_SET_TSS_ADDR: three pages of guest-physical address space (outside RAM) that Intel
    /// VMX needs to emulate real mode. Harmless elsewhere.
    pub fn set_tss_addr(&self, addr: u64) -> Result<(), KvmError> {
        ioctl_with_val(self.raw_fd(), "KVM_SET_TSS_ADDR", KVM_SET_TSS_ADDR, addr).map(|_| ())
    }

    /// KVM_CREATE_IRQCHIP: an in-kernel 8259 PIC pair, IOAPIC and local APICs. Must come before
    /// any vCPU is created.
    pub fn create_irqchip(&self) -> Result<(), KvmError> {
        ioctl_with_val(self.raw_fd(), "KVM_CREATE_IRQCHIP", KVM_CREATE_IRQCHIP, 0).map(|_| ())
    }

    /// KVM_CREATE_PIT2: an in-kernel 8254 timer on ports 0x40-0x43, wired to IRQ 0. With
    /// `speaker`, KVM also emulates port 0x61, whose bits gate channel 2 and show its output
    /// (how Linux calibrates the TSC against the PIT); otherwise 0x61 is a dummy.
    pub fn create_pit2(&self, speaker: bool) -> Result<(), KvmError> {
        let config = kvm_pit_config {
            flags: if speaker { 0 } else { KVM_PIT_SPEAKER_DUMMY },
            pad: [0; 15],
        };
        // SAFETY: KVM_CREATE_PIT2 (_IOW) only reads one kvm_pit_config.
        unsafe { ioctl_with_ref(self.raw_fd(), "KVM_CREATE_PIT2", KVM_CREATE_PIT2, &config) }
            .map(|_| ())
    }

    /// KVM_REINJECT_CONTROL: whether the in-kernel PIT replays ticks missed while no vCPU ran
    /// (after KVM_CREATE_PIT2). A debugger turns it off, so time held at a stop is not
    /// replayed as a burst of interrupts afterwards.
    pub fn set_pit_reinject(&self, reinject: bool) -> Result<(), KvmError> {
        let control = kvm_reinject_control {
            pit_reinject: reinject.into(),
            ..Default::default()
        };
        // SAFETY: KVM_REINJECT_CONTROL (an _IO number, but api.rst gives it a pointer) only
        // reads one kvm_reinject_control.
        unsafe {
            ioctl_with_ref(
                self.raw_fd(),
                "KVM_REINJECT_CONTROL",
                KVM_REINJECT_CONTROL,
                &control,
            )
        }
        .map(|_| ())
    }

    /// KVM_IRQ_LINE: drive input pin `irq` of the in-kernel PIC/IOAPIC high or low.
    // [tour:irq-line]
    pub fn irq_line(&self, irq: u32, high: bool) -> Result<(), KvmError> {
        let level = kvm_irq_level {
            irq,
            level: high.into(),
        };
        // SAFETY: KVM_IRQ_LINE (_IOW) only reads one kvm_irq_level.
        unsafe { ioctl_with_ref(self.raw_fd(), "KVM_IRQ_LINE", KVM_IRQ_LINE, &level) }.map(|_| ())
    }
    // [/tour:irq-line]

    /// KVM_REGISTER_COALESCED_MMIO with `pio` = 1: guest writes to ports `port..port+size`
    /// go to the coalesced ring instead of exiting (needs KVM_CAP_COALESCED_PIO).
    pub fn register_coalesced_pio(&self, port: u16, size: u32) -> Result<(), KvmError> {
        self.coalesced_zone(
            "KVM_REGISTER_COALESCED_MMIO",
            KVM_REGISTER_COALESCED_MMIO,
            port,
            size,
        )
    }

    /// KVM_UNREGISTER_COALESCED_MMIO: writes to the zone exit again.
    pub fn unregister_coalesced_pio(&self, port: u16, size: u32) -> Result<(), KvmError> {
        self.coalesced_zone(
            "KVM_UNREGISTER_COALESCED_MMIO",
            KVM_UNREGISTER_COALESCED_MMIO,
            port,
            size,
        )
    }

    fn coalesced_zone(
        &self,
        name: &'static str,
        request: u64,
        port: u16,
        size: u32,
    ) -> Result<(), KvmError> {
        let zone = kvm_coalesced_mmio_zone {
            addr: port.into(),
            size,
            pio: 1,
        };
        // SAFETY: both requests passed here (_IOW) only read one kvm_coalesced_mmio_zone.
        unsafe { ioctl_with_ref(self.raw_fd(), name, request, &zone) }.map(|_| ())
    }

    /// KVM_CREATE_VCPU with APIC id `id`, then mmap of its `kvm_run` page.
    pub fn create_vcpu(self: &Arc<Self>, id: u32) -> Result<Vcpu, KvmError> {
        let fd = ioctl_with_val(self.raw_fd(), "KVM_CREATE_VCPU", KVM_CREATE_VCPU, id.into())?;
        Vcpu::new(fd, Arc::clone(self))
    }
}
