//! Test doubles for the virtio layer: guest RAM as a `Vec` that records every access (and can
//! play a second vCPU that rewrites memory behind the device's back), a disk image as a `Vec`
//! that records every write, and the driver's side of a split virtqueue. Test code only.

use super::blk::DiskBackend;
use super::queue::{QueueConfig, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE};
use super::GuestRam;
use crate::memory::MemoryError;
use crate::test_rng::Rng;
use std::cell::RefCell;

/// Guest RAM in a `Vec`, with a log of the ranges read and written.
pub struct VecRam {
    bytes: RefCell<Vec<u8>>,
    pub reads: RefCell<Vec<(u64, usize)>>,
    pub writes: RefCell<Vec<(u64, usize)>>,
    /// The other vCPU: after a read, with probability 1/`every`, it rewrites one random byte of
    /// `range` (as a guest racing the device would).
    meddler: Option<Meddler>,
}

struct Meddler {
    rng: RefCell<Rng>,
    range: (u64, u64),
    every: u64,
}

impl VecRam {
    pub fn new(size: usize) -> VecRam {
        VecRam {
            bytes: RefCell::new(vec![0; size]),
            reads: RefCell::new(Vec::new()),
            writes: RefCell::new(Vec::new()),
            meddler: None,
        }
    }

    /// A second vCPU that rewrites bytes of `start..end` after reads, seeded.
    pub fn meddle(&mut self, seed: u64, start: u64, end: u64, every: u64) {
        self.meddler = Some(Meddler {
            rng: RefCell::new(Rng::new(seed)),
            range: (start, end),
            every: every.max(1),
        });
    }

    /// Whether a second vCPU rewrites memory.
    pub fn meddled(&self) -> bool {
        self.meddler.is_some()
    }

    /// Sets bytes directly (the driver's side: not logged).
    pub fn poke(&self, gpa: u64, data: &[u8]) {
        let at = gpa as usize;
        self.bytes.borrow_mut()[at..at + data.len()].copy_from_slice(data);
    }

    pub fn peek(&self, gpa: u64, len: usize) -> Vec<u8> {
        let at = gpa as usize;
        self.bytes.borrow()[at..at + len].to_vec()
    }

    pub fn poke_u16(&self, gpa: u64, v: u16) {
        self.poke(gpa, &v.to_le_bytes());
    }

    pub fn peek_u16(&self, gpa: u64) -> u16 {
        u16::from_le_bytes(self.peek(gpa, 2).try_into().expect("2 bytes"))
    }

    /// The u16 at `gpa`, or `default` if it is outside RAM.
    pub fn peek_u16_or(&self, gpa: u64, default: u16) -> u16 {
        let size = self.bytes.borrow().len() as u64;
        if gpa.checked_add(2).is_some_and(|end| end <= size) {
            self.peek_u16(gpa)
        } else {
            default
        }
    }

    pub fn peek_u32(&self, gpa: u64) -> u32 {
        u32::from_le_bytes(self.peek(gpa, 4).try_into().expect("4 bytes"))
    }

    /// Fills all of RAM from the generator.
    pub fn randomize(&self, rng: &mut Rng) {
        for b in self.bytes.borrow_mut().iter_mut() {
            *b = rng.byte();
        }
    }

    pub fn clear_logs(&self) {
        self.reads.borrow_mut().clear();
        self.writes.borrow_mut().clear();
    }

    fn check(&self, gpa: u64, len: usize) -> Result<usize, MemoryError> {
        let size = self.bytes.borrow().len() as u64;
        match gpa.checked_add(len as u64) {
            Some(end) if end <= size => Ok(gpa as usize),
            _ => Err(MemoryError::OutOfBounds { gpa, len: len as u64, size }),
        }
    }
}

impl GuestRam for VecRam {
    fn size(&self) -> u64 {
        self.bytes.borrow().len() as u64
    }

    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let at = self.check(gpa, buf.len())?;
        buf.copy_from_slice(&self.bytes.borrow()[at..at + buf.len()]);
        self.reads.borrow_mut().push((gpa, buf.len()));
        if let Some(m) = &self.meddler {
            let mut rng = m.rng.borrow_mut();
            let (start, end) = m.range;
            if rng.next() % m.every == 0 && end > start {
                let victim = (start + rng.next() % (end - start)) as usize;
                let mut bytes = self.bytes.borrow_mut();
                if victim < bytes.len() {
                    bytes[victim] = rng.byte();
                }
            }
        }
        Ok(())
    }

    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let at = self.check(gpa, data.len())?;
        self.bytes.borrow_mut()[at..at + data.len()].copy_from_slice(data);
        self.writes.borrow_mut().push((gpa, data.len()));
        Ok(())
    }
}

/// A disk image in a `Vec`. Every write is checked on arrival: inside the image, and never to a
/// read-only one (a test fails at the write that breaks the rule).
pub struct VecDisk {
    pub data: Vec<u8>,
    pub read_only: bool,
    pub writes: Vec<(u64, usize)>,
    pub flushes: u32,
    /// Make every operation fail (an I/O error on the host).
    pub broken: bool,
}

impl VecDisk {
    pub fn new(data: Vec<u8>, read_only: bool) -> VecDisk {
        VecDisk { data, read_only, writes: Vec::new(), flushes: 0, broken: false }
    }

    fn range(&self, offset: u64, len: usize) -> std::io::Result<usize> {
        if self.broken {
            return Err(std::io::Error::from_raw_os_error(libc::EIO));
        }
        match offset.checked_add(len as u64) {
            Some(end) if end <= self.data.len() as u64 => Ok(offset as usize),
            _ => Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)),
        }
    }
}

impl DiskBackend for VecDisk {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> std::io::Result<()> {
        let at = self.range(offset, buf.len())?;
        buf.copy_from_slice(&self.data[at..at + buf.len()]);
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        assert!(!self.read_only, "a write reached a read-only image");
        let end = offset.checked_add(data.len() as u64);
        assert!(
            end.is_some_and(|e| e <= self.data.len() as u64),
            "a write outside the image: {offset:#x}+{:#x} of {:#x}",
            data.len(),
            self.data.len()
        );
        let at = self.range(offset, data.len())?;
        self.data[at..at + data.len()].copy_from_slice(data);
        self.writes.push((offset, data.len()));
        Ok(())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.broken {
            return Err(std::io::Error::from_raw_os_error(libc::EIO));
        }
        self.flushes += 1;
        Ok(())
    }
}

/// The driver's side of one split virtqueue laid out in a [`VecRam`]: the descriptor table at
/// `desc`, the available ring at `avail`, the used ring at `used`, buffers allocated upwards
/// from `heap`.
pub struct Driver {
    pub config: QueueConfig,
    next_desc: u16,
    avail_idx: u16,
    used_seen: u16,
    heap: u64,
}

/// A buffer of a chain: its bytes (what the driver puts there) and whether the device may write it.
pub struct Buf {
    pub data: Vec<u8>,
    pub writable: bool,
}

pub fn out(data: &[u8]) -> Buf {
    Buf { data: data.to_vec(), writable: false }
}

pub fn inb(len: usize) -> Buf {
    Buf { data: vec![0xEE; len], writable: true }
}

impl Driver {
    /// A queue of `size` entries at 0x1000 (descriptors), then the rings; buffers from `heap`.
    pub fn new(size: u16, heap: u64) -> Driver {
        let desc = 0x1000;
        let avail = desc + 16 * u64::from(size);
        let used = (avail + 6 + 2 * u64::from(size)).next_multiple_of(4);
        Driver {
            config: QueueConfig { size, desc_table: desc, avail_ring: avail, used_ring: used },
            next_desc: 0,
            avail_idx: 0,
            used_seen: 0,
            heap,
        }
    }

    /// Starts the indices at `idx` (to test the 16-bit wraparound).
    pub fn start_at(&mut self, mem: &VecRam, idx: u16) {
        self.avail_idx = idx;
        self.used_seen = idx;
        mem.poke_u16(self.config.avail_ring + 2, idx);
        mem.poke_u16(self.config.used_ring + 2, idx);
    }

    /// Writes one descriptor (index `i`) as the driver would.
    pub fn put_desc(&self, mem: &VecRam, i: u16, addr: u64, len: u32, flags: u16, next: u16) {
        let at = self.config.desc_table + 16 * u64::from(i);
        let mut d = [0u8; 16];
        d[..8].copy_from_slice(&addr.to_le_bytes());
        d[8..12].copy_from_slice(&len.to_le_bytes());
        d[12..14].copy_from_slice(&flags.to_le_bytes());
        d[14..].copy_from_slice(&next.to_le_bytes());
        mem.poke(at, &d);
    }

    /// Makes `head` available (ring entry, then idx).
    pub fn publish(&mut self, mem: &VecRam, head: u16) {
        let slot = self.avail_idx % self.config.size;
        mem.poke_u16(self.config.avail_ring + 4 + 2 * u64::from(slot), head);
        self.avail_idx = self.avail_idx.wrapping_add(1);
        mem.poke_u16(self.config.avail_ring + 2, self.avail_idx);
    }

    /// Places the buffers, chains descriptors for them and makes the chain available. Returns
    /// the head and each buffer's guest-physical address.
    pub fn add(&mut self, mem: &VecRam, bufs: &[Buf]) -> (u16, Vec<u64>) {
        let size = self.config.size;
        let head = self.next_desc % size;
        let mut addrs = Vec::new();
        for (k, b) in bufs.iter().enumerate() {
            let i = (self.next_desc + k as u16) % size;
            let addr = self.heap;
            self.heap = (self.heap + b.data.len() as u64 + 16).next_multiple_of(16);
            mem.poke(addr, &b.data);
            addrs.push(addr);
            let last = k + 1 == bufs.len();
            let flags = if b.writable { VIRTQ_DESC_F_WRITE } else { 0 }
                | if last { 0 } else { VIRTQ_DESC_F_NEXT };
            self.put_desc(mem, i, addr, b.data.len() as u32, flags, (i + 1) % size);
        }
        self.next_desc = (self.next_desc + bufs.len() as u16) % size;
        self.publish(mem, head);
        (head, addrs)
    }

    /// The used elements the device added since the last call: (id, len).
    pub fn take_used(&mut self, mem: &VecRam) -> Vec<(u32, u32)> {
        let idx = mem.peek_u16(self.config.used_ring + 2);
        let mut out = Vec::new();
        while self.used_seen != idx {
            let slot = u64::from(self.used_seen % self.config.size);
            let at = self.config.used_ring + 4 + 8 * slot;
            out.push((mem.peek_u32(at), mem.peek_u32(at + 4)));
            self.used_seen = self.used_seen.wrapping_add(1);
        }
        out
    }
}
