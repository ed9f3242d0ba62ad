//! The KVM syscall layer: file descriptors, ioctls and the structures they exchange. Nothing else.
//!
//! KVM exposes three kinds of file descriptor (`Documentation/virt/kvm/api.rst`, section 2):
//! `/dev/kvm`, the **system** fd ([`Kvm`], below), asks what this KVM can do and creates VMs; a
//! **VM** fd ([`Vm`], vm.rs) owns guest memory slots and creates vCPUs; a **vCPU** fd ([`Vcpu`],
//! vcpu.rs) has registers, `KVM_RUN`, and a shared page (`struct kvm_run`) that says why the
//! guest stopped. Each type owns its fd. Each method wraps exactly one ioctl and is named after
//! it; a failure comes back as a [`KvmError`] with the ioctl's name and the errno. The ioctls of
//! the layers (interrupt controllers, CPUID, debugging, coalescing, eventfds) are methods on the
//! same types, written in files of their own here. This directory and `memory.rs` hold all of
//! mini-kvm's `unsafe`.

pub mod bindings;
pub mod coalesced;
pub mod cpuid;
pub mod debug;
pub mod eventfd;
pub mod irqchip;
pub mod lapic;
pub mod names;
mod vcpu;
mod vm;

pub use vcpu::{install_kick_handler, Exit, Kick, Vcpu};
pub use vm::Vm;

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// An ioctl (or the open or mmap around it) failed: which one, and the errno.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvmError {
    pub ioctl: &'static str,
    pub errno: i32,
}

impl std::fmt::Display for KvmError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let reason = std::io::Error::from_raw_os_error(self.errno);
        write!(f, "{} failed: {reason}", self.ioctl)
    }
}

// [tour:request-numbers]
/// An ioctl request number packs four fields (`include/uapi/asm-generic/ioctl.h`): bits 30-31
/// say who writes the argument (1 user space, 2 the kernel, 3 both, 0 none), 16-29 its size,
/// 8-15 the type (KVMIO, 0xAE) and 0-7 the number.
const fn ioc(dir: u64, nr: u64, size: usize) -> u64 {
    (dir << 30) | ((size as u64) << 16) | (0xAE << 8) | nr
}
/// `_IO(KVMIO, nr)`: no argument, or an integer passed by value.
pub const fn io(nr: u64) -> u64 {
    ioc(0, nr, 0)
}
/// `_IOW(KVMIO, nr, T)`: the kernel reads a `T` from us.
pub const fn iow<T>(nr: u64) -> u64 {
    ioc(1, nr, std::mem::size_of::<T>())
}
/// `_IOR(KVMIO, nr, T)`: the kernel fills a `T` for us.
pub const fn ior<T>(nr: u64) -> u64 {
    ioc(2, nr, std::mem::size_of::<T>())
}
/// `_IOWR(KVMIO, nr, T)`: the kernel reads a `T` and writes it back.
pub const fn iowr<T>(nr: u64) -> u64 {
    ioc(3, nr, std::mem::size_of::<T>())
}
// [/tour:request-numbers]

/// The result of a libc call that returns -1 on failure, as `Result`.
fn check(ret: i32, ioctl: &'static str) -> Result<i32, KvmError> {
    if ret >= 0 {
        return Ok(ret);
    }
    let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
    Err(KvmError { ioctl, errno })
}

/// `ioctl(fd, request, arg)` with an integer (or no) argument.
fn ioctl_val(fd: RawFd, name: &'static str, request: u64, arg: u64) -> Result<i32, KvmError> {
    // SAFETY: the requests passed here take their argument by value (or ignore it): the kernel
    // dereferences no pointer of ours, and a bad fd only yields EBADF.
    check(unsafe { libc::ioctl(fd, request as _, arg) }, name)
}

/// `ioctl(fd, request, &mut value)`: the kernel reads and/or writes one `T` (`_IOW`, `_IOR`,
/// `_IOWR`: the number's direction bits say which; `_IOW` ones only read it).
///
/// # Safety
/// `request` must take a pointer to exactly a `T`, or to a `T` that starts with the request's
/// struct and holds everything the kernel is documented to access after it.
unsafe fn ioctl_ptr<T>(
    fd: RawFd,
    name: &'static str,
    req: u64,
    value: &mut T,
) -> Result<i32, KvmError> {
    // SAFETY: `value` is valid and exclusive for the call; the caller promised the kernel
    // accesses no more than it (see # Safety).
    check(unsafe { libc::ioctl(fd, req as _, value as *mut T) }, name)
}

/// An open `/dev/kvm` (api.rst 4.1-4.5).
pub struct Kvm {
    fd: OwnedFd,
}

impl Kvm {
    /// Opens the KVM device read-write (and close-on-exec, as Rust opens every file).
    pub fn open(path: &str) -> Result<Kvm, KvmError> {
        let file = std::fs::OpenOptions::new().read(true).write(true).open(path);
        let errno = |e: std::io::Error| e.raw_os_error().unwrap_or(libc::ENODEV);
        let file = file.map_err(|e| KvmError { ioctl: "open(2)", errno: errno(e) })?;
        Ok(Kvm { fd: file.into() })
    }

    /// KVM_GET_API_VERSION: 12 on every Linux since 2.6.22.
    pub fn get_api_version(&self) -> Result<i32, KvmError> {
        ioctl_val(self.fd.as_raw_fd(), "KVM_GET_API_VERSION", io(0x00), 0)
    }

    /// KVM_CHECK_EXTENSION: 0 when `cap` is missing, else 1 or a number the cap defines.
    pub fn check_extension(&self, cap: u32) -> i32 {
        ioctl_val(self.fd.as_raw_fd(), "KVM_CHECK_EXTENSION", io(0x03), cap.into()).unwrap_or(0)
    }

    /// KVM_GET_VCPU_MMAP_SIZE: the bytes to mmap from a vCPU fd (`kvm_run` and the pages after
    /// it: port-I/O data, the coalesced ring).
    pub fn get_vcpu_mmap_size(&self) -> Result<usize, KvmError> {
        let size = ioctl_val(self.fd.as_raw_fd(), "KVM_GET_VCPU_MMAP_SIZE", io(0x04), 0)?;
        Ok(size as usize)
    }

    // [tour:create-vm]
    /// KVM_CREATE_VM (machine type 0): an empty VM, no memory, no vCPU.
    pub fn create_vm(&self) -> Result<Vm, KvmError> {
        let run_size = self.get_vcpu_mmap_size()?;
        let fd = ioctl_val(self.fd.as_raw_fd(), "KVM_CREATE_VM", io(0x01), 0)?;
        // SAFETY: KVM_CREATE_VM returned a new fd that nothing else owns.
        Ok(Vm::new(unsafe { OwnedFd::from_raw_fd(fd) }, run_size))
    }
    // [/tour:create-vm]

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::bindings::{kvm_regs, kvm_sregs, kvm_userspace_memory_region};
    use super::*;

    /// The values `printf("%lx", KVM_...)` prints in C against <linux/kvm.h>.
    #[test]
    fn request_numbers_match_linux_kvm_h() {
        assert_eq!(io(0x01), 0xAE01);
        assert_eq!(iow::<kvm_userspace_memory_region>(0x46), 0x4020_AE46);
        assert_eq!(ior::<kvm_regs>(0x81), 0x8090_AE81);
        assert_eq!(iow::<kvm_sregs>(0x84), 0x4138_AE84);
        assert_eq!(iowr::<[u8; 24]>(0x85), 0xC018_AE85);
    }

    #[test]
    fn errors_name_the_ioctl_and_the_errno() {
        let e = KvmError { ioctl: "KVM_RUN", errno: libc::EFAULT };
        assert_eq!(e.to_string(), "KVM_RUN failed: Bad address (os error 14)");
    }
}
