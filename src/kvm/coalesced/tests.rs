//! Unit tests of the ring's consumer side, on a page laid out as KVM lays out its own, with a
//! producer here doing what KVM does for one coalesced write.

use super::*;

/// A ring page in ordinary memory.
#[repr(C, align(4096))]
struct FakePage(std::cell::UnsafeCell<[u8; 4096]>);

// SAFETY: (a test's page) the producer below and the ring under test touch the page from one
// thread, and the indices only through atomics, as with KVM's page.
unsafe impl Sync for FakePage {}

struct Fake {
    page: Arc<FakePage>,
    ring: Ring,
}

impl Fake {
    fn new() -> Fake {
        let page = Arc::new(FakePage(std::cell::UnsafeCell::new([0; 4096])));
        let ptr = NonNull::new(page.0.get().cast::<u8>()).expect("a Box is never null");
        let owner: Arc<FakePage> = Arc::clone(&page);
        Fake { page, ring: Ring { page: ptr, _owner: owner } }
    }

    /// What KVM does for one coalesced write: the entry, then `last` (Release).
    fn push(&self, port: u64, byte: u8) -> bool {
        let last = self.ring.index(4).load(Ordering::Relaxed);
        let next = (last + 1) % KVM_COALESCED_MMIO_MAX;
        if next == self.ring.index(0).load(Ordering::Acquire) {
            return false; // full: KVM would exit instead
        }
        let entry = kvm_coalesced_mmio {
            phys_addr: port,
            len: 1,
            pio: 1,
            data: [byte, 0, 0, 0, 0, 0, 0, 0],
        };
        let at = ENTRIES_OFFSET + last as usize * 24;
        // SAFETY: at + 24 <= 4088 inside the page, 8-aligned.
        unsafe { self.page.0.get().cast::<u8>().add(at).cast::<kvm_coalesced_mmio>().write(entry) };
        self.ring.index(4).store(next, Ordering::Release);
        true
    }

    fn bytes(&self) -> Vec<u8> {
        let mut got = Vec::new();
        self.ring.drain(|w| {
            assert!(w.pio);
            assert_eq!((w.addr, w.len), (0x3F8, 1));
            got.push(w.data[0]);
        });
        got
    }
}

#[test]
fn an_empty_ring_gives_nothing() {
    let fake = Fake::new();
    assert_eq!(fake.ring.waiting_at(), None);
    assert_eq!(fake.ring.drain(|_| panic!("no entries")), 0);
}

#[test]
fn entries_come_out_in_order_and_free_their_slots() {
    let fake = Fake::new();
    for b in b"Hello" {
        assert!(fake.push(0x3F8, *b));
    }
    assert_eq!(fake.ring.waiting_at(), Some(0));
    assert_eq!(fake.bytes(), b"Hello");
    assert_eq!(fake.ring.waiting_at(), None);
    assert_eq!(fake.ring.index(0).load(Ordering::Relaxed), 5);
}

#[test]
fn the_ring_wraps_and_holds_one_less_than_its_slots() {
    let fake = Fake::new();
    let (mut pushed, mut n) = (Vec::new(), 0u8);
    while fake.push(0x3F8, n) {
        pushed.push(n);
        n = n.wrapping_add(1);
    }
    assert_eq!(pushed.len(), KVM_COALESCED_MMIO_MAX as usize - 1);
    let mut got = fake.bytes();
    // Again, across the end of the array.
    for _ in 0..100 {
        assert!(fake.push(0x3F8, n));
        pushed.push(n);
        n = n.wrapping_add(1);
    }
    got.extend(fake.bytes());
    assert_eq!(got, pushed);
    assert_eq!(fake.ring.index(0).load(Ordering::Relaxed), 99);
}

#[test]
fn indices_out_of_range_read_nothing() {
    let fake = Fake::new();
    fake.ring.index(4).store(KVM_COALESCED_MMIO_MAX + 3, Ordering::Relaxed);
    assert_eq!(fake.ring.drain(|_| panic!("must not read")), 0);
    fake.ring.index(4).store(2, Ordering::Relaxed);
    fake.ring.index(0).store(u32::MAX, Ordering::Relaxed);
    assert_eq!(fake.ring.drain(|_| panic!("must not read")), 0);
}

#[test]
fn a_length_past_eight_bytes_is_cut_to_the_entry() {
    let fake = Fake::new();
    let entry = kvm_coalesced_mmio { phys_addr: 0x3F8, len: 1000, pio: 1, data: [7; 8] };
    // SAFETY: slot 0 of the page, 8-aligned.
    unsafe {
        fake.page.0.get().cast::<u8>().add(ENTRIES_OFFSET).cast::<kvm_coalesced_mmio>().write(entry)
    };
    fake.ring.index(4).store(1, Ordering::Release);
    let mut lens = Vec::new();
    fake.ring.drain(|w| lens.push(w.len));
    assert_eq!(lens, [8]);
}
