//! The coalesced MMIO/PIO ring: writes KVM keeps instead of leaving the guest for them.
//!
//! api.rst 4.116 (KVM_REGISTER_COALESCED_MMIO / KVM_UNREGISTER_COALESCED_MMIO) and section 5
//! (`kvm_run`): for a registered zone (here: COM1's THR, port 0x3F8, one byte), a guest write
//! does not end KVM_RUN. KVM appends `{port, len, data}` to a ring in a page that every vCPU
//! fd's mmap shows at page `KVM_CAP_COALESCED_MMIO` (the capability's value is that page
//! offset) and resumes the guest at once. User space must empty the ring before it acts on
//! anything that could observe those writes: the device state they change, or their order
//! relative to the next exit. When the ring is full KVM stops coalescing and the write becomes
//! an ordinary KVM_EXIT_IO, which arrives after every entry already in the ring.
//!
//! The ring is single-producer (KVM, under its lock), single-consumer (us, under COM1's lock):
//! KVM writes an entry, then publishes it by storing `last` (with a write barrier); we load
//! `last` with Acquire (so the entry's bytes are visible), copy the entry out, then store
//! `first` with Release (so KVM never reuses a slot we are still reading).

use super::bindings::*;
use super::vcpu::RunPage;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

/// One write taken from the ring.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoalescedWrite {
    /// The port (with `pio`) or guest-physical address.
    pub addr: u64,
    pub pio: bool,
    /// The bytes written: `len` of them, at most 8.
    pub data: [u8; 8],
    pub len: u8,
}

/// A view of a ring page: a header and `KVM_COALESCED_MMIO_MAX` entries.
struct RingPtr(NonNull<u8>);

impl RingPtr {
    fn first(&self) -> &AtomicU32 {
        // SAFETY: the page is at least KVM_COALESCED_PAGE_SIZE bytes, aligned to a page (so to
        // 4), and lives as long as &self (the owner keeps the mapping). `first` is a u32 at
        // offset 0; every access from this process goes through this atomic.
        unsafe { AtomicU32::from_ptr(self.0.as_ptr().cast::<u32>()) }
    }

    fn last(&self) -> &AtomicU32 {
        // SAFETY: as for `first`; `last` is the u32 at offset 4 (bindings.rs asserts it).
        unsafe { AtomicU32::from_ptr(self.0.as_ptr().add(4).cast::<u32>()) }
    }

    /// A copy of entry `i` (i < KVM_COALESCED_MMIO_MAX).
    fn entry(&self, i: u32) -> kvm_coalesced_mmio {
        debug_assert!(i < KVM_COALESCED_MMIO_MAX);
        let offset = KVM_COALESCED_ENTRIES_OFFSET + i as usize * size_of_entry();
        // SAFETY: offset + 24 <= 8 + 170 * 24 = 4088 <= the page size, and the offset is a
        // multiple of 8 from a page-aligned base. KVM does not write this slot until we move
        // `first` past it (the ring protocol), so a volatile copy reads a complete entry.
        unsafe {
            self.0
                .as_ptr()
                .add(offset)
                .cast::<kvm_coalesced_mmio>()
                .read_volatile()
        }
    }
}

const fn size_of_entry() -> usize {
    std::mem::size_of::<kvm_coalesced_mmio>()
}

/// Hands every entry between `first` and `last` to `apply`, oldest first, and frees them.
/// Returns how many there were. An index out of range (which KVM never writes) ends the drain
/// rather than reading outside the page.
fn drain(ring: &RingPtr, mut apply: impl FnMut(CoalescedWrite)) -> u32 {
    let last = ring.last().load(Ordering::Acquire);
    let mut first = ring.first().load(Ordering::Relaxed);
    if last >= KVM_COALESCED_MMIO_MAX || first >= KVM_COALESCED_MMIO_MAX {
        return 0;
    }
    let mut n = 0;
    while first != last {
        let e = ring.entry(first);
        let len = e.len.min(8) as u8;
        apply(CoalescedWrite {
            addr: e.phys_addr,
            pio: e.pio != 0,
            data: e.data,
            len,
        });
        first = (first + 1) % KVM_COALESCED_MMIO_MAX;
        // Free the slot only after its copy is taken.
        ring.first().store(first, Ordering::Release);
        n += 1;
    }
    n
}

fn is_empty(ring: &RingPtr) -> bool {
    ring.first().load(Ordering::Relaxed) == ring.last().load(Ordering::Acquire)
}

/// The VM's coalesced ring, as seen through one vCPU's mapping. Draining needs `&mut`: there is
/// one consumer (COM1 owns it, behind its lock).
pub struct CoalescedRing {
    ring: RingPtr,
    /// Keeps the vCPU mapping the ring lies in alive.
    _run: Arc<RunPage>,
}

// SAFETY: the ring page is shared memory accessed only through atomics (the indices) and
// volatile copies of entries the protocol gives us; draining takes &mut self.
unsafe impl Send for CoalescedRing {}

impl CoalescedRing {
    pub(super) fn new(run: Arc<RunPage>, page: NonNull<u8>) -> CoalescedRing {
        CoalescedRing {
            ring: RingPtr(page),
            _run: run,
        }
    }

    /// Applies every pending write, oldest first; returns how many there were.
    pub fn drain(&mut self, apply: impl FnMut(CoalescedWrite)) -> u32 {
        drain(&self.ring, apply)
    }

    /// A handle another thread can use to see whether writes are waiting.
    pub fn watch(&self) -> RingWatch {
        RingWatch {
            ring: RingPtr(self.ring.0),
            _run: Arc::clone(&self._run),
        }
    }
}

/// Read-only: "are writes waiting in the ring?" (for the vCPU loop's fast path and the main
/// thread's tick).
pub struct RingWatch {
    ring: RingPtr,
    _run: Arc<RunPage>,
}

// SAFETY: a RingWatch only loads the two indices, atomically.
unsafe impl Send for RingWatch {}
// SAFETY: as above.
unsafe impl Sync for RingWatch {}

impl RingWatch {
    pub fn is_empty(&self) -> bool {
        is_empty(&self.ring)
    }

    /// With writes waiting: where the oldest one is (`first`). Two equal answers a while apart
    /// mean nothing drained the ring in between.
    pub fn waiting_at(&self) -> Option<u32> {
        let first = self.ring.first().load(Ordering::Relaxed);
        (first != self.ring.last().load(Ordering::Acquire)).then_some(first)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ring page in ordinary memory, laid out as KVM lays out its page.
    #[repr(C, align(4096))]
    struct FakePage([u8; KVM_COALESCED_PAGE_SIZE]);

    struct Fake {
        page: Box<FakePage>,
    }

    impl Fake {
        fn new() -> Fake {
            Fake {
                page: Box::new(FakePage([0; KVM_COALESCED_PAGE_SIZE])),
            }
        }

        fn ptr(&mut self) -> RingPtr {
            RingPtr(NonNull::new(self.page.0.as_mut_ptr()).unwrap())
        }

        /// What KVM does for one coalesced write: the entry, then `last`.
        fn push(&mut self, port: u64, byte: u8) -> bool {
            let ring = self.ptr();
            let last = ring.last().load(Ordering::Relaxed);
            let next = (last + 1) % KVM_COALESCED_MMIO_MAX;
            if next == ring.first().load(Ordering::Acquire) {
                return false; // full: KVM would exit instead
            }
            let entry = kvm_coalesced_mmio {
                phys_addr: port,
                len: 1,
                pio: 1,
                data: [byte, 0, 0, 0, 0, 0, 0, 0],
            };
            let offset = KVM_COALESCED_ENTRIES_OFFSET + last as usize * size_of_entry();
            // SAFETY: inside the fake page (offset + 24 <= 4088), 8-aligned.
            unsafe {
                self.page
                    .0
                    .as_mut_ptr()
                    .add(offset)
                    .cast::<kvm_coalesced_mmio>()
                    .write(entry)
            };
            ring.last().store(next, Ordering::Release);
            true
        }
    }

    fn bytes(ring: &RingPtr) -> Vec<u8> {
        let mut got = Vec::new();
        drain(ring, |w| {
            assert!(w.pio);
            assert_eq!((w.addr, w.len), (0x3F8, 1));
            got.push(w.data[0]);
        });
        got
    }

    #[test]
    fn an_empty_ring_gives_nothing() {
        let mut fake = Fake::new();
        let ring = fake.ptr();
        assert!(is_empty(&ring));
        assert_eq!(drain(&ring, |_| panic!("no entries")), 0);
    }

    #[test]
    fn entries_come_out_in_order_and_free_their_slots() {
        let mut fake = Fake::new();
        for b in b"Hello" {
            assert!(fake.push(0x3F8, *b));
        }
        let ring = fake.ptr();
        assert!(!is_empty(&ring));
        assert_eq!(bytes(&ring), b"Hello");
        assert!(is_empty(&ring));
        assert_eq!(ring.first().load(Ordering::Relaxed), 5);
    }

    #[test]
    fn the_ring_wraps_and_holds_one_less_than_its_slots() {
        let mut fake = Fake::new();
        let mut pushed = Vec::new();
        let mut n = 0u8;
        // Fill, drain part-way, fill again across the end of the array, drain.
        while fake.push(0x3F8, n) {
            pushed.push(n);
            n = n.wrapping_add(1);
        }
        assert_eq!(pushed.len(), KVM_COALESCED_MMIO_MAX as usize - 1);
        let ring = fake.ptr();
        let mut got = bytes(&ring);
        for _ in 0..100 {
            assert!(fake.push(0x3F8, n));
            pushed.push(n);
            n = n.wrapping_add(1);
        }
        got.extend(bytes(&fake.ptr()));
        assert_eq!(got, pushed);
        assert_eq!(fake.ptr().first().load(Ordering::Relaxed), 99);
    }

    #[test]
    fn indices_out_of_range_read_nothing() {
        let mut fake = Fake::new();
        let ring = fake.ptr();
        ring.last()
            .store(KVM_COALESCED_MMIO_MAX + 3, Ordering::Relaxed);
        assert_eq!(drain(&ring, |_| panic!("must not read")), 0);
    }
}
