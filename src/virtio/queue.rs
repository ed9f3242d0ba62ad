//! A split virtqueue, the device's side (virtio 1.2, 2.7 "Split Virtqueues").
//!
//! Three areas of guest RAM, which the driver allocates and names through the transport:
//!
//! ```text
//! descriptor table (16-byte aligned)   available ring (2-aligned)   used ring (4-aligned)
//! [0] addr u64 len u32 flags next u16  flags u16                    flags u16
//! [1] ...                              idx u16 (driver's count)     idx u16 (device's count)
//! [size-1]                             ring[size]: head indices     ring[size]: (id u32, len u32)
//! ```
//!
//! A request is a *chain* of descriptors linked by `next` while `flags` has NEXT: first the
//! buffers the device reads, then those it writes (flag WRITE). The driver puts the chain's
//! first index (its *head*) into the available ring and increments `idx`; the device returns the
//! head in the used ring with the number of bytes it wrote and increments its `idx`. Both
//! indices run freely through 0..65535 and wrap; an index's slot is `idx % size`, which is
//! why the size is a power of two (2.7: at most 32768).
//!
//! What a hostile driver can do and what happens (the device never trusts guest RAM twice):
//!
//! | the driver                                           | the device                      |
//! |------------------------------------------------------|---------------------------------|
//! | rewrites a descriptor while the device works         | each descriptor is copied once, checked, and only the copy is used |
//! | links a loop, or a chain longer than the queue       | stops after `size` descriptors: the request ends with length 0 |
//! | names `next` or a head outside the table             | the request ends (a bad head: the queue is broken, [`QueueError`]) |
//! | sets INDIRECT (not offered: VIRTIO_F_INDIRECT_DESC)  | refused: the request ends       |
//! | puts a readable buffer after a writable one          | refused (2.7.4.2): the request ends |
//! | names a buffer outside guest RAM                     | refused before any byte moves   |
//! | a zero-length buffer                                 | allowed: it holds no bytes      |
//! | moves `avail.idx` more than `size` ahead             | the queue is broken: the device needs a reset |
//!
//! "The request ends" means the head goes back in the used ring with length 0 and nothing else
//! is written. VIRTIO_F_EVENT_IDX is not offered, so the only notification suppression is the
//! available ring's NO_INTERRUPT flag (2.7.7, 2.7.10).

mod chain;
mod errors;
pub use chain::{Chain, Descriptor};
pub use errors::{ChainError, PopError, QueueConfigError, QueueError};

use super::{in_ram, read_u16, GuestRam};
use crate::memory::MemoryError;
use std::sync::atomic::{fence, Ordering};

/// The descriptor continues in `next`.
pub const VIRTQ_DESC_F_NEXT: u16 = 1;
/// The buffer is device-writable (else device-readable).
pub const VIRTQ_DESC_F_WRITE: u16 = 2;
/// The buffer holds a table of descriptors (VIRTIO_F_INDIRECT_DESC, which mini-kvm does not offer).
pub const VIRTQ_DESC_F_INDIRECT: u16 = 4;
/// In the available ring's flags: the driver asks for no interrupt for now.
pub const VIRTQ_AVAIL_F_NO_INTERRUPT: u16 = 1;
/// The largest size of a split queue (2.7).
pub const VIRTQ_MAX_SIZE: u16 = 32768;

const DESC_SIZE: u64 = 16;
const USED_ELEM_SIZE: u64 = 8;
/// `flags` and `idx` before each ring.
const RING_HEADER: u64 = 4;

/// Where a queue lives and how big it is, as the driver wrote them to the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueConfig {
    pub size: u16,
    /// The descriptor area (QueueDescLow/High).
    pub desc_table: u64,
    /// The driver area: the available ring (QueueDriverLow/High).
    pub avail_ring: u64,
    /// The device area: the used ring (QueueDeviceLow/High).
    pub used_ring: u64,
}

impl QueueConfig {
    /// Checks what 2.7 requires of a queue before it is used: the size, the alignments, and
    /// that no area wraps around the address space. (Whether the areas are in RAM is checked at
    /// each access: RAM is the machine's, not the transport's, to know.)
    pub fn check(&self, max: u16) -> Result<(), QueueConfigError> {
        if !self.size.is_power_of_two() || self.size > max || self.size > VIRTQ_MAX_SIZE {
            return Err(QueueConfigError::Size { size: self.size, max });
        }
        let n = u64::from(self.size);
        let areas = [
            ("descriptor table", self.desc_table, 16, DESC_SIZE * n),
            ("available ring", self.avail_ring, 2, RING_HEADER + 2 * n),
            ("used ring", self.used_ring, 4, RING_HEADER + USED_ELEM_SIZE * n),
        ];
        for (what, addr, align, len) in areas {
            if addr % align != 0 || addr.checked_add(len).is_none() {
                return Err(QueueConfigError::Area { what, addr });
            }
        }
        Ok(())
    }
}

/// The device's state for one queue: where it lives and how far the device has got.
#[derive(Debug, Clone)]
pub struct SplitQueue {
    config: QueueConfig,
    /// The next available-ring entry the device will take (free-running, wraps at 65536).
    next_avail: u16,
    /// The next used-ring entry the device will fill (free-running).
    next_used: u16,
}

impl SplitQueue {
    /// A queue the transport has checked ([`QueueConfig::check`]); both indices start at 0.
    pub fn new(config: QueueConfig) -> SplitQueue {
        SplitQueue { config, next_avail: 0, next_used: 0 }
    }

    /// The same, with both indices at `idx` (for tests of the 16-bit wraparound).
    #[cfg(test)]
    pub fn starting_at(config: QueueConfig, idx: u16) -> SplitQueue {
        SplitQueue { config, next_avail: idx, next_used: idx }
    }

    pub fn config(&self) -> QueueConfig {
        self.config
    }

    fn size(&self) -> u16 {
        self.config.size
    }

    /// Takes the next available chain into `chain` (its buffer reused, nothing allocated):
    /// `Ok(true)` with a chain, `Ok(false)` when the driver has made nothing new available.
    pub fn pop(&mut self, mem: &impl GuestRam, chain: &mut Chain) -> Result<bool, PopError> {
        let size = self.size();
        let avail_idx = read_u16(mem, within(mem, self.config.avail_ring, 2)?)?;
        let waiting = avail_idx.wrapping_sub(self.next_avail);
        if waiting == 0 {
            return Ok(false);
        }
        if waiting > size {
            return Err(PopError::Queue(QueueError::AvailIndex {
                avail_idx,
                taken: self.next_avail,
                size,
            }));
        }
        // The ring entry is read after idx: pairs with the driver's barrier between writing the
        // entry and incrementing idx (2.7.13.3).
        fence(Ordering::Acquire);
        let slot = u64::from(self.next_avail % size);
        let head = read_u16(mem, within(mem, self.config.avail_ring, RING_HEADER + 2 * slot)?)?;
        self.next_avail = self.next_avail.wrapping_add(1);
        if head >= size {
            return Err(PopError::Queue(QueueError::Head { head, size }));
        }
        chain.reset(head);
        self.walk(mem, chain).map(|()| true).map_err(|e| match e {
            Walk::Chain(error) => PopError::Chain { head, error },
            Walk::Memory(e) => PopError::Queue(QueueError::Memory(e)),
        })
    }

    /// Copies the chain from `chain.head`, each descriptor once, checking each copy.
    fn walk(&self, mem: &impl GuestRam, chain: &mut Chain) -> Result<(), Walk> {
        let size = self.size();
        let mut index = chain.head();
        loop {
            if chain.descriptors().len() >= usize::from(size) {
                return Err(Walk::Chain(ChainError::TooLong { size }));
            }
            let mut raw = [0u8; 16];
            let at = within(mem, self.config.desc_table, DESC_SIZE * u64::from(index))
                .map_err(Walk::Memory)?;
            mem.read(at, &mut raw).map_err(Walk::Memory)?;
            let d = Descriptor::from_le_bytes(raw);
            if d.flags & VIRTQ_DESC_F_INDIRECT != 0 {
                return Err(Walk::Chain(ChainError::Indirect));
            }
            if !in_ram(mem, d.addr, u64::from(d.len)) {
                return Err(Walk::Chain(ChainError::OutsideRam { addr: d.addr, len: d.len }));
            }
            chain.push(d).map_err(Walk::Chain)?;
            if d.flags & VIRTQ_DESC_F_NEXT == 0 {
                return Ok(());
            }
            if d.next >= size {
                return Err(Walk::Chain(ChainError::Next { index: d.next, size }));
            }
            index = d.next;
        }
    }

    /// Returns chain `head` to the driver with `len` bytes written: the used-ring element, then
    /// (after a barrier, 2.7.8) the used idx.
    pub fn push_used(
        &mut self,
        mem: &impl GuestRam,
        head: u16,
        len: u32,
    ) -> Result<(), QueueError> {
        let size = self.size();
        if head >= size {
            return Err(QueueError::Head { head, size });
        }
        let slot = u64::from(self.next_used % size);
        let mut elem = [0u8; 8];
        elem[..4].copy_from_slice(&u32::from(head).to_le_bytes());
        elem[4..].copy_from_slice(&len.to_le_bytes());
        mem.write(within(mem, self.config.used_ring, RING_HEADER + USED_ELEM_SIZE * slot)?, &elem)?;
        fence(Ordering::Release);
        self.next_used = self.next_used.wrapping_add(1);
        mem.write(within(mem, self.config.used_ring, 2)?, &self.next_used.to_le_bytes())?;
        Ok(())
    }

    /// After pushing used elements: whether the driver wants an interrupt for them (it does
    /// unless it set NO_INTERRUPT in the available ring's flags, 2.7.10).
    pub fn needs_interrupt(&self, mem: &impl GuestRam) -> Result<bool, QueueError> {
        // The used idx store must be visible before the flags are read (2.7.10's barrier):
        // otherwise the driver may re-enable interrupts, see no new used entries, and wait.
        fence(Ordering::SeqCst);
        let flags = read_u16(mem, self.config.avail_ring)?;
        Ok(flags & VIRTQ_AVAIL_F_NO_INTERRUPT == 0)
    }

    /// The device's free-running counters (taken from the available ring, put in the used ring).
    #[cfg(test)]
    pub fn indices(&self) -> (u16, u16) {
        (self.next_avail, self.next_used)
    }
}

/// `base + offset`, the address of a field of a ring or the table. The transport checks that no
/// area wraps around the address space ([`QueueConfig::check`]); this does not rely on it: an
/// area that would wrap is outside guest RAM.
fn within(mem: &impl GuestRam, base: u64, offset: u64) -> Result<u64, MemoryError> {
    base.checked_add(offset).ok_or(MemoryError::OutOfBounds {
        gpa: base,
        len: offset,
        size: mem.size(),
    })
}

enum Walk {
    Chain(ChainError),
    Memory(MemoryError),
}

#[cfg(test)]
mod tests;
