//! The KVM syscall layer: file descriptors, ioctls and the structures they exchange. Nothing else.
//!
//! KVM exposes three kinds of file descriptor (`Documentation/virt/kvm/api.rst`, section 2):
//!
//! * `/dev/kvm`, the **system** fd ([`Kvm`]): asks what this KVM can do and creates VMs;
//! * a **VM** fd ([`Vm`]): owns guest memory slots, the in-kernel interrupt controllers and timer,
//!   and creates vCPUs;
//! * a **vCPU** fd ([`Vcpu`]): registers, `KVM_RUN`, and a shared page (`struct kvm_run`) that
//!   tells user space why the guest stopped.
//!
//! Each type owns its fd and closes it on drop. Each method wraps exactly one ioctl and is named
//! after it; a failure comes back as a [`KvmError`] carrying the ioctl's name and the errno.
//! This is the only module (with `memory.rs`) that uses `unsafe`.

pub mod bindings;
pub mod coalesced;
mod exit;
pub mod ioctl;
mod kick;
pub mod seccomp;
mod syscall_names;
mod system;
mod vcpu;
mod vm;

pub use coalesced::{CoalescedRing, CoalescedWrite, RingWatch};
pub use exit::{ExitKind, ExitRegs, VmExit};
pub use kick::{install_kick_signal_handler, VcpuKick};
pub use system::Kvm;
pub use vcpu::Vcpu;
pub use vm::Vm;

use std::fmt;
use std::os::fd::RawFd;

/// An ioctl (or the open/mmap around it) failed: which one, and the errno it returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvmError {
    pub ioctl: &'static str,
    pub errno: i32,
}

impl KvmError {
    /// The errno of the last failed libc call, attributed to `ioctl`.
    pub fn last(ioctl: &'static str) -> KvmError {
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        KvmError { ioctl, errno }
    }
}

impl fmt::Display for KvmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let reason = std::io::Error::from_raw_os_error(self.errno);
        write!(f, "{} failed: {reason}", self.ioctl)
    }
}

impl std::error::Error for KvmError {}

/// `ioctl(fd, request, arg)` with an integer (or no) argument; returns the ioctl's result.
fn ioctl_with_val(fd: RawFd, name: &'static str, request: u64, arg: u64) -> Result<i32, KvmError> {
    // SAFETY: the requests passed here take their argument by value (or ignore it), so the
    // kernel dereferences no pointer of ours; an invalid fd only yields EBADF.
    let ret = unsafe { libc::ioctl(fd, request as libc::c_ulong, arg as libc::c_ulong) };
    if ret < 0 {
        Err(KvmError::last(name))
    } else {
        Ok(ret)
    }
}

/// `ioctl(fd, request, &value)`: the kernel only reads one `T` (an `_IOW` request).
///
/// The direction bits of a request number ([`ioctl`]) say who writes the argument. `_IOW` is a
/// write *from user space*: the kernel copies the `T` in (`copy_from_user`) and never stores to
/// it, so a shared `&T` is the honest type and the caller's value is passed as it is, with no
/// copy. `_IOR` (the kernel fills the `T`) and `_IOWR` (it reads the `T`, then writes it back)
/// store into user memory and go through [`ioctl_with_mut`]. A few older requests are `_IO` yet
/// read a pointed-to struct (KVM_REINJECT_CONTROL): the number says nothing, api.rst does.
///
/// # Safety
/// `request` must be an ioctl that only reads its argument: a pointer to exactly a `T` (the
/// `_IOW` size in [`ioctl`] is `size_of::<T>()`), or to a `T` that starts with the request's
/// struct and holds everything the kernel is documented to read after it (a [`CpuidTable`]:
/// the `kvm_cpuid2` header, then `nent` entries).
///
/// [`CpuidTable`]: bindings::CpuidTable
unsafe fn ioctl_with_ref<T>(
    fd: RawFd,
    name: &'static str,
    request: u64,
    value: &T,
) -> Result<i32, KvmError> {
    // SAFETY: `value` is a valid pointer to a T for the whole call, and the caller promised the
    // kernel only reads it, no further than that (see # Safety): nothing writes through a
    // shared reference.
    let ret = unsafe { libc::ioctl(fd, request as libc::c_ulong, value as *const T) };
    if ret < 0 {
        Err(KvmError::last(name))
    } else {
        Ok(ret)
    }
}

/// `ioctl(fd, request, &mut value)`: the kernel writes one `T` (`_IOR`), or reads it and writes
/// it back (`_IOWR`).
///
/// # Safety
/// `request` must be an ioctl whose argument is a pointer to exactly a `T` (the `_IOR`/`_IOWR`
/// size in [`ioctl`] is `size_of::<T>()`), or to a `T` that starts with the request's struct
/// and holds everything the kernel is documented to access after it (as for
/// [`ioctl_with_ref`]).
unsafe fn ioctl_with_mut<T>(
    fd: RawFd,
    name: &'static str,
    request: u64,
    value: &mut T,
) -> Result<i32, KvmError> {
    // SAFETY: `value` is a valid, exclusive pointer to a T for the whole call; the caller
    // promised the kernel accesses no more than that (see # Safety).
    let ret = unsafe { libc::ioctl(fd, request as libc::c_ulong, value as *mut T) };
    if ret < 0 {
        Err(KvmError::last(name))
    } else {
        Ok(ret)
    }
}
