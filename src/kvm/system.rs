//! The system fd, `/dev/kvm`: what this host's KVM supports, and the VM factory.
//!
//! api.rst 4.1 (KVM_GET_API_VERSION), 4.2 (KVM_CREATE_VM), 4.4 (KVM_CHECK_EXTENSION),
//! 4.5 (KVM_GET_VCPU_MMAP_SIZE), 4.46 (KVM_GET_SUPPORTED_CPUID).

use super::bindings::*;
use super::ioctl::*;
use super::{ioctl_with_mut, ioctl_with_val, KvmError, Vm};
use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// An open `/dev/kvm`.
pub struct Kvm {
    fd: OwnedFd,
}

impl Kvm {
    /// Opens the KVM device (read-write, close-on-exec as Rust opens every file).
    pub fn open(path: &str) -> Result<Kvm, KvmError> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .map_err(|e| KvmError {
                // Not "open /dev/kvm": MINI_KVM_DEVICE may name another path, which the
                // caller's message names (error.rs).
                ioctl: "open(2)",
                errno: e.raw_os_error().unwrap_or(libc::ENODEV),
            })?;
        Ok(Kvm { fd: file.into() })
    }

    /// KVM_GET_API_VERSION: 12 on every Linux since 2.6.22; anything else is not our KVM.
    pub fn api_version(&self) -> Result<i32, KvmError> {
        ioctl_with_val(
            self.fd.as_raw_fd(),
            "KVM_GET_API_VERSION",
            KVM_GET_API_VERSION,
            0,
        )
    }

    /// KVM_CHECK_EXTENSION: 0 when `cap` is missing, otherwise 1 or a cap-specific number.
    pub fn check_extension(&self, cap: u32) -> Result<i32, KvmError> {
        ioctl_with_val(
            self.fd.as_raw_fd(),
            "KVM_CHECK_EXTENSION",
            KVM_CHECK_EXTENSION,
            cap.into(),
        )
    }

    /// KVM_GET_VCPU_MMAP_SIZE: how many bytes to mmap from a vCPU fd (the `kvm_run` page plus
    /// the pages that follow it, e.g. the port-I/O data page).
    pub fn vcpu_mmap_size(&self) -> Result<usize, KvmError> {
        let size = ioctl_with_val(
            self.fd.as_raw_fd(),
            "KVM_GET_VCPU_MMAP_SIZE",
            KVM_GET_VCPU_MMAP_SIZE,
            0,
        )?;
        Ok(size as usize)
    }

    /// KVM_GET_SUPPORTED_CPUID: the CPUID leaves this host can show a guest.
    pub fn supported_cpuid(&self) -> Result<Box<CpuidTable>, KvmError> {
        let mut table = Box::new(CpuidTable {
            header: kvm_cpuid2 {
                nent: KVM_MAX_CPUID_ENTRIES as u32,
                padding: 0,
            },
            entries: [kvm_cpuid_entry2::default(); KVM_MAX_CPUID_ENTRIES],
        });
        // SAFETY: KVM_GET_SUPPORTED_CPUID (_IOWR) reads `nent` from the header and writes at
        // most that many entries after it (and `nent` back). The table starts with the header
        // (bindings.rs asserts the layout) and holds exactly `nent` entries.
        unsafe {
            ioctl_with_mut(
                self.fd.as_raw_fd(),
                "KVM_GET_SUPPORTED_CPUID",
                KVM_GET_SUPPORTED_CPUID,
                &mut *table,
            )?;
        }
        Ok(table)
    }

    /// KVM_CREATE_VM (machine type 0, the default): an empty VM with no memory and no vCPU.
    // [tour:create-vm]
    pub fn create_vm(&self) -> Result<Vm, KvmError> {
        let run_size = self.vcpu_mmap_size()?;
        let fd = ioctl_with_val(self.fd.as_raw_fd(), "KVM_CREATE_VM", KVM_CREATE_VM, 0)?;
        // SAFETY: KVM_CREATE_VM returned a new fd that nothing else owns.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        Ok(Vm::from_fd(fd, run_size))
    }
    // [/tour:create-vm]
}
