//! The coalesced MMIO/PIO ring: writes KVM keeps instead of leaving the guest for them.
//!
//! api.rst 4.116 (KVM_REGISTER_COALESCED_MMIO / KVM_UNREGISTER_COALESCED_MMIO) and section 5:
//! for a registered zone (here COM1's THR, port 0x3F8, one byte) a guest write does not end
//! KVM_RUN. KVM appends `{port, len, data}` to a ring in a page every vCPU mapping shows at page
//! `KVM_CAP_COALESCED_MMIO` (the capability's value) and resumes the guest at once. User space
//! must apply the ring's writes before anything that could observe them. When the ring is full
//! KVM stops coalescing and the write exits as usual, after every entry already in the ring.
//!
//! One producer (KVM) and one consumer: KVM writes an entry, then publishes it by storing `last`;
//! we load `last` with Acquire (the entry's bytes are then visible), copy the entry out, then
//! store `first` with Release (so KVM never reuses a slot we are still reading).
#![allow(non_camel_case_types)]

use super::bindings::layout;
use super::vcpu::RunPage;
use super::{io, ioctl_ptr, ioctl_val, iow, KvmError, Vcpu, Vm};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// A zone: ports (`pio` = 1) or guest-physical addresses `addr..addr+size`.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct kvm_coalesced_mmio_zone {
    pub addr: u64,
    pub size: u32,
    pub pio: u32,
}
layout!(kvm_coalesced_mmio_zone, 16, size @ 8, pio @ 12);

/// One entry of the ring.
#[repr(C)]
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct kvm_coalesced_mmio {
    pub phys_addr: u64,
    pub len: u32,
    pub pio: u32,
    pub data: [u8; 8],
}
layout!(kvm_coalesced_mmio, 24, len @ 8, pio @ 12, data @ 16);

/// The ring page: `first` and `last` (u32 each), then the entries from byte 8.
pub const ENTRIES_OFFSET: usize = 8;
/// How many entries one page holds.
pub const KVM_COALESCED_MMIO_MAX: u32 = ((4096 - ENTRIES_OFFSET) / 24) as u32;
const _: () = assert!(KVM_COALESCED_MMIO_MAX == 170);
pub const KVM_CAP_COALESCED_MMIO: u32 = 15;
pub const KVM_CAP_COALESCED_PIO: u32 = 162;

impl Vm {
    /// KVM_CHECK_EXTENSION on the VM fd: what this VM's KVM supports (api.rst 4.4).
    pub fn check_extension(&self, cap: u32) -> i32 {
        ioctl_val(self.raw_fd(), "KVM_CHECK_EXTENSION", io(0x03), cap.into()).unwrap_or(0)
    }

    /// KVM_REGISTER_COALESCED_MMIO with `pio` = 1: guest writes to ports `port..port+size`
    /// go to the ring instead of exiting (needs KVM_CAP_COALESCED_PIO).
    pub fn register_coalesced_mmio(&self, port: u16, size: u32) -> Result<(), KvmError> {
        let mut zone = kvm_coalesced_mmio_zone { addr: port.into(), size, pio: 1 };
        let request = iow::<kvm_coalesced_mmio_zone>(0x67);
        // SAFETY: KVM_REGISTER_COALESCED_MMIO (_IOW) only reads one zone.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_REGISTER_COALESCED_MMIO", request, &mut zone) }
            .map(drop)
    }

    /// KVM_UNREGISTER_COALESCED_MMIO: writes to the zone exit again.
    pub fn unregister_coalesced_mmio(&self, port: u16, size: u32) -> Result<(), KvmError> {
        let mut zone = kvm_coalesced_mmio_zone { addr: port.into(), size, pio: 1 };
        let request = iow::<kvm_coalesced_mmio_zone>(0x68);
        // SAFETY: KVM_UNREGISTER_COALESCED_MMIO (_IOW) only reads one zone.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_UNREGISTER_COALESCED_MMIO", request, &mut zone) }
            .map(drop)
    }
}

/// One write taken from the ring: the port (or address), and `len` bytes of `data`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoalescedWrite {
    pub addr: u64,
    pub pio: bool,
    pub data: [u8; 8],
    pub len: u8,
}

/// The VM's ring, as one vCPU's mapping shows it.
pub struct Ring {
    page: NonNull<u8>,
    /// Whatever owns the page (the vCPU's mapping), kept alive as long as the ring.
    _owner: Arc<dyn Send + Sync>,
}

// SAFETY: the page is shared memory read only through atomics (the indices) and volatile
// copies of the entries the protocol hands us.
unsafe impl Send for Ring {}
// SAFETY: as above; draining is for one consumer at a time, which the caller's lock ensures.
unsafe impl Sync for Ring {}

impl Vcpu {
    /// The ring at page `page` of this vCPU's mapping; `None` if the mapping does not reach it.
    pub fn coalesced_ring(&self, page: u32) -> Option<Ring> {
        let offset = (page as usize).checked_mul(4096)?;
        if page == 0 || offset.checked_add(4096)? > self.run.size {
            return None;
        }
        // SAFETY: offset + one page lies inside the mapping (checked), kept alive by the Arc.
        let page = NonNull::new(unsafe { self.run.base().add(offset) })?;
        let owner: Arc<RunPage> = Arc::clone(&self.run);
        Some(Ring { page, _owner: owner })
    }
}

impl Ring {
    fn index(&self, at: usize) -> &AtomicU32 {
        // SAFETY: `first` (0) and `last` (4) are u32s at the start of the page-aligned page,
        // which lives as long as &self; every access from this process is through the atomic.
        unsafe { AtomicU32::from_ptr(self.page.as_ptr().add(at).cast()) }
    }

    /// Whether writes wait in the ring; `Some(first)`: where the oldest is.
    pub fn waiting_at(&self) -> Option<u32> {
        let first = self.index(0).load(Ordering::Relaxed);
        (first != self.index(4).load(Ordering::Acquire)).then_some(first)
    }

    /// Hands every write in the ring to `apply`, oldest first, and frees them; how many. An
    /// index out of range (which KVM never writes) ends the drain rather than reading outside.
    pub fn drain(&self, mut apply: impl FnMut(CoalescedWrite)) -> u32 {
        let last = self.index(4).load(Ordering::Acquire);
        let mut first = self.index(0).load(Ordering::Relaxed);
        let mut n = 0;
        while first != last && first < KVM_COALESCED_MMIO_MAX && last < KVM_COALESCED_MMIO_MAX {
            let at = ENTRIES_OFFSET + first as usize * 24;
            // SAFETY: at + 24 <= 8 + 170 * 24 <= 4096, 8-aligned; KVM does not touch this slot
            // until `first` moves past it.
            let e: kvm_coalesced_mmio =
                unsafe { self.page.as_ptr().add(at).cast::<kvm_coalesced_mmio>().read_volatile() };
            apply(CoalescedWrite {
                addr: e.phys_addr,
                pio: e.pio != 0,
                data: e.data,
                len: e.len.min(8) as u8,
            });
            first = (first + 1) % KVM_COALESCED_MMIO_MAX;
            self.index(0).store(first, Ordering::Release); // frees the slot, its copy taken
            n += 1;
        }
        n
    }
}

#[cfg(test)]
mod tests;
