//! Eventfds between KVM and mini-kvm's threads: KVM_IOEVENTFD (api.rst 4.59) and KVM_IRQFD
//! (api.rst 4.75), on eventfds (eventfd(2)).
//!
//! An eventfd is a 64-bit counter in the kernel behind a file descriptor: a write adds to it, a
//! read returns it and sets it to 0 (blocking while it is 0). KVM can be either end:
//!
//! - KVM_IOEVENTFD: a guest store to a registered address (here a virtio device's QueueNotify
//!   register) adds 1 to the eventfd *instead of* a KVM_EXIT_MMIO: the vCPU goes on at once,
//!   and a device thread blocked in read(2) wakes up.
//! - KVM_IRQFD: a write to the eventfd raises (and lowers) an interrupt line of the in-kernel
//!   irqchip, as KVM_IRQ_LINE 1 then 0 would, from any thread and with no ioctl.

use super::bindings::layout;
use super::{check, ioctl_ptr, iow, KvmError, Vm};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

/// `struct kvm_ioeventfd`: a guest write of `len` bytes at `addr` (MMIO unless FLAG_PIO)
/// signals `fd` (only when the value is `datamatch`, with FLAG_DATAMATCH).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub struct kvm_ioeventfd {
    pub datamatch: u64,
    pub addr: u64,
    pub len: u32,
    pub fd: i32,
    pub flags: u32,
    pub pad: [u8; 36],
}
layout!(kvm_ioeventfd, 64, addr @ 8, len @ 16, fd @ 20, flags @ 24, pad @ 28);

/// `struct kvm_irqfd`: a write to `fd` pulses GSI `gsi`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy)]
pub struct kvm_irqfd {
    pub fd: u32,
    pub gsi: u32,
    pub flags: u32,
    pub resamplefd: u32,
    pub pad: [u8; 16],
}
layout!(kvm_irqfd, 32, gsi @ 4, flags @ 8, resamplefd @ 12, pad @ 16);

pub const KVM_CAP_IRQFD: u32 = 32;
pub const KVM_CAP_IOEVENTFD: u32 = 36;

/// An eventfd (EFD_CLOEXEC; EFD_NONBLOCK when asked: a read of 0 then fails at once).
pub struct EventFd {
    file: File,
}

impl EventFd {
    /// eventfd(2) with the counter at 0.
    pub fn new(nonblocking: bool) -> Result<EventFd, KvmError> {
        let flags = libc::EFD_CLOEXEC | if nonblocking { libc::EFD_NONBLOCK } else { 0 };
        // SAFETY: eventfd(2) takes no pointer; it returns a new fd or -1.
        let fd = check(unsafe { libc::eventfd(0, flags) }, "eventfd(2)")?;
        // SAFETY: eventfd(2) just returned this fd, which nothing else owns.
        Ok(EventFd { file: File::from(unsafe { OwnedFd::from_raw_fd(fd) }) })
    }

    /// Adds 1 to the counter (waking a reader; with KVM_IRQFD, pulsing the line).
    pub fn signal(&self) -> std::io::Result<()> {
        (&self.file).write_all(&1u64.to_ne_bytes())
    }

    /// The counter, reset to 0: blocks while it is 0 (a nonblocking eventfd: `WouldBlock`).
    pub fn take(&self) -> std::io::Result<u64> {
        let mut bytes = [0u8; 8];
        (&self.file).read_exact(&mut bytes)?;
        Ok(u64::from_ne_bytes(bytes))
    }
}

impl Vm {
    /// KVM_IOEVENTFD (api.rst 4.59): a guest store of `len` bytes to guest-physical `addr`
    /// signals `event` instead of exiting (any value: no datamatch).
    pub fn ioeventfd(&self, event: &EventFd, addr: u64, len: u32) -> Result<(), KvmError> {
        let fd = event.file.as_raw_fd();
        let mut args = kvm_ioeventfd { datamatch: 0, addr, len, fd, flags: 0, pad: [0; 36] };
        let request = iow::<kvm_ioeventfd>(0x79);
        // SAFETY: KVM_IOEVENTFD (_IOW) only reads one kvm_ioeventfd; KVM takes its own
        // reference to the eventfd.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_IOEVENTFD", request, &mut args) }.map(drop)
    }

    /// KVM_IRQFD (api.rst 4.75): a write to `event` pulses GSI `gsi` of the in-kernel irqchip
    /// (which must exist: KVM_CREATE_IRQCHIP).
    pub fn irqfd(&self, event: &EventFd, gsi: u32) -> Result<(), KvmError> {
        let fd = event.file.as_raw_fd() as u32;
        let mut args = kvm_irqfd { fd, gsi, ..Default::default() };
        let request = iow::<kvm_irqfd>(0x76);
        // SAFETY: KVM_IRQFD (_IOW) only reads one kvm_irqfd; KVM takes its own reference to
        // the eventfd.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_IRQFD", request, &mut args) }.map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The values `printf("%lx", KVM_IOEVENTFD)` and `KVM_IRQFD` print against <linux/kvm.h>.
    #[test]
    fn request_numbers_match_linux_kvm_h() {
        assert_eq!(iow::<kvm_ioeventfd>(0x79), 0x4040_AE79);
        assert_eq!(iow::<kvm_irqfd>(0x76), 0x4020_AE76);
    }

    #[test]
    fn an_eventfd_counts_signals_until_read() {
        let e = EventFd::new(true).unwrap();
        assert_eq!(e.take().unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
        e.signal().unwrap();
        e.signal().unwrap();
        assert_eq!(e.take().unwrap(), 2);
        assert_eq!(e.take().unwrap_err().kind(), std::io::ErrorKind::WouldBlock);
    }
}
