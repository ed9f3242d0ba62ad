//! The VM fd: guest memory slots and vCPUs (api.rst 4.7 KVM_CREATE_VCPU, 4.18 KVM_SET_TSS_ADDR,
//! 4.35 KVM_SET_USER_MEMORY_REGION).

use super::bindings::*;
use super::{io, ioctl_ptr, ioctl_val, iow, KvmError, Vcpu};
use crate::memory::GuestMemory;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex};

/// A virtual machine.
pub struct Vm {
    fd: OwnedFd,
    /// Bytes to mmap from each vCPU fd (KVM_GET_VCPU_MMAP_SIZE).
    pub(super) run_size: usize,
    /// The RAM behind the memory slots: KVM uses those host addresses for as long as the VM
    /// exists, so the VM keeps each mapping alive (and each vCPU keeps the VM).
    memory: Mutex<Vec<Arc<GuestMemory>>>,
}

impl Vm {
    pub(super) fn new(fd: OwnedFd, run_size: usize) -> Vm {
        Vm { fd, run_size, memory: Mutex::new(Vec::new()) }
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    // [tour:memory-region]
    /// KVM_SET_USER_MEMORY_REGION: guest-physical `gpa..gpa+size` becomes memory slot `slot`,
    /// backed by the same range of `memory` (guest-physical address == offset in the mapping).
    pub fn set_user_memory_region(
        &self,
        slot: u32,
        memory: &Arc<GuestMemory>,
        gpa: u64,
        size: u64,
    ) -> Result<(), KvmError> {
        let refused = KvmError { ioctl: "KVM_SET_USER_MEMORY_REGION", errno: libc::EINVAL };
        let userspace_addr = memory.host_address(gpa, size).map_err(|_| refused)?;
        let mut region = kvm_userspace_memory_region {
            slot,
            flags: 0,
            guest_phys_addr: gpa,
            memory_size: size,
            userspace_addr,
        };
        let mut kept = self.memory.lock().unwrap_or_else(|e| e.into_inner());
        if !kept.iter().any(|m| Arc::ptr_eq(m, memory)) {
            kept.push(Arc::clone(memory));
        }
        let request = iow::<kvm_userspace_memory_region>(0x46);
        // SAFETY: KVM_SET_USER_MEMORY_REGION (_IOW) only reads the region. The host range it
        // names lies inside `memory` (host_address checked it), which this VM keeps alive.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_SET_USER_MEMORY_REGION", request, &mut region) }?;
        Ok(())
    }
    // [/tour:memory-region]

    /// KVM_SET_TSS_ADDR: three pages of guest-physical address space, outside RAM, that Intel
    /// VMX needs to run real mode. Harmless elsewhere.
    pub fn set_tss_addr(&self, addr: u64) -> Result<(), KvmError> {
        ioctl_val(self.raw_fd(), "KVM_SET_TSS_ADDR", io(0x47), addr).map(drop)
    }

    /// KVM_CREATE_VCPU with APIC ID `id`, and the mmap of its `kvm_run` page.
    pub fn create_vcpu(self: &Arc<Self>, id: u32) -> Result<Vcpu, KvmError> {
        let fd = ioctl_val(self.raw_fd(), "KVM_CREATE_VCPU", io(0x41), id.into())?;
        Vcpu::new(fd, Arc::clone(self))
    }
}
