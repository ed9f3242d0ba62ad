//! CPUID: what the guest's CPUID instruction answers. KVM_GET_SUPPORTED_CPUID (api.rst 4.46)
//! lists what this host can show a guest; KVM_SET_CPUID2 (4.20) sets a vCPU's table. Flat
//! real-mode guests never ask, and an OS kernel must (long mode, features), so only the boot
//! protocols of kernels set it.
#![allow(non_camel_case_types)]

use super::bindings::layout;
use super::{ioctl_ptr, iow, iowr, Kvm, KvmError, Vcpu};

/// One CPUID leaf (`function`, sub-leaf `index`) and its four registers.
#[rustfmt::skip]
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct kvm_cpuid_entry2 {
    pub function: u32, pub index: u32, pub flags: u32,
    pub eax: u32, pub ebx: u32, pub ecx: u32, pub edx: u32, pub padding: [u32; 3],
}
layout!(kvm_cpuid_entry2, 40, flags @ 8, eax @ 12, edx @ 24);

/// The header before a table of entries.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_cpuid2 {
    pub nent: u32,
    pub padding: u32,
}
layout!(kvm_cpuid2, 8);

/// Room for every leaf KVM may report.
pub const KVM_MAX_CPUID_ENTRIES: usize = 256;

/// `kvm_cpuid2` with its entries after it, as the ioctls take it.
#[repr(C)]
pub struct CpuidTable {
    pub header: kvm_cpuid2,
    pub entries: [kvm_cpuid_entry2; KVM_MAX_CPUID_ENTRIES],
}
layout!(CpuidTable, 8 + 40 * KVM_MAX_CPUID_ENTRIES, entries @ 8);

impl Kvm {
    /// KVM_GET_SUPPORTED_CPUID: the leaves this host can show a guest.
    pub fn get_supported_cpuid(&self) -> Result<Box<CpuidTable>, KvmError> {
        let header = kvm_cpuid2 { nent: KVM_MAX_CPUID_ENTRIES as u32, padding: 0 };
        let mut table =
            Box::new(CpuidTable { header, entries: [Default::default(); KVM_MAX_CPUID_ENTRIES] });
        let request = iowr::<kvm_cpuid2>(0x05);
        // SAFETY: KVM_GET_SUPPORTED_CPUID reads `nent` from the header and writes at most that
        // many entries after it; the table starts with the header and holds that many.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_GET_SUPPORTED_CPUID", request, &mut *table) }?;
        Ok(table)
    }
}

impl Vcpu {
    /// KVM_SET_CPUID2: the table CPUID answers from.
    pub fn set_cpuid2(&self, table: &mut CpuidTable) -> Result<(), KvmError> {
        table.header.nent = table.header.nent.min(KVM_MAX_CPUID_ENTRIES as u32);
        let request = iow::<kvm_cpuid2>(0x90);
        // SAFETY: KVM_SET_CPUID2 (_IOW) only reads the header and the `nent` entries after it,
        // which the table holds (nent was just capped to its size).
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_SET_CPUID2", request, table) }.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_numbers_match_linux_kvm_h() {
        assert_eq!(iowr::<kvm_cpuid2>(0x05), 0xC008_AE05);
        assert_eq!(iow::<kvm_cpuid2>(0x90), 0x4008_AE90);
    }
}
