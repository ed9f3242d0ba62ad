//! A descriptor chain as the device holds it: each descriptor copied once out of the table,
//! and the request's bytes seen as two streams, the device-readable buffers then the
//! device-writable ones (virtio 1.2, 2.6.4 "Message Framing": the device must not assume how
//! the driver split a request into buffers).

use super::{ChainError, VIRTQ_DESC_F_WRITE};
use crate::memory::MemoryError;
use crate::virtio::GuestRam;

/// One descriptor, as copied out of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Descriptor {
    pub addr: u64,
    pub len: u32,
    pub flags: u16,
    pub next: u16,
}

impl Descriptor {
    /// Decodes the 16 bytes of a table entry (2.7.5: le64 addr, le32 len, le16 flags, le16 next).
    pub fn from_le_bytes(b: [u8; 16]) -> Descriptor {
        Descriptor {
            addr: u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
            len: u32::from_le_bytes([b[8], b[9], b[10], b[11]]),
            flags: u16::from_le_bytes([b[12], b[13]]),
            next: u16::from_le_bytes([b[14], b[15]]),
        }
    }

    pub fn is_writable(&self) -> bool {
        self.flags & VIRTQ_DESC_F_WRITE != 0
    }
}

/// A chain copied out of the descriptor table: the device's private, checked copy.
#[derive(Debug, Default)]
pub struct Chain {
    head: u16,
    descriptors: Vec<Descriptor>,
    /// How many of `descriptors` (the first ones) are device-readable.
    readable: usize,
    readable_len: u64,
    writable_len: u64,
}

impl Chain {
    /// A chain buffer for queues of up to `max` entries, allocated once.
    pub fn with_capacity(max: u16) -> Chain {
        Chain { descriptors: Vec::with_capacity(usize::from(max)), ..Chain::default() }
    }

    pub fn head(&self) -> u16 {
        self.head
    }

    pub fn descriptors(&self) -> &[Descriptor] {
        &self.descriptors
    }

    /// Bytes in the device-readable buffers.
    pub fn readable_len(&self) -> u64 {
        self.readable_len
    }

    /// Bytes in the device-writable buffers.
    pub fn writable_len(&self) -> u64 {
        self.writable_len
    }

    /// Copies `buf.len()` bytes of the device-readable part, seen as one byte stream (2.6.4:
    /// the device must not assume how the driver split a request into buffers), from `offset`.
    pub fn read(
        &self,
        mem: &impl GuestRam,
        offset: u64,
        buf: &mut [u8],
    ) -> Result<(), MemoryError> {
        let mut done = 0;
        for_each_segment(&self.descriptors[..self.readable], offset, buf.len(), |gpa, n| {
            mem.read(gpa, &mut buf[done..done + n])?;
            done += n;
            Ok(())
        })
    }

    /// Copies `data` into the device-writable part, seen as one byte stream, from `offset`.
    pub fn write(&self, mem: &impl GuestRam, offset: u64, data: &[u8]) -> Result<(), MemoryError> {
        let mut done = 0;
        for_each_segment(&self.descriptors[self.readable..], offset, data.len(), |gpa, n| {
            mem.write(gpa, &data[done..done + n])?;
            done += n;
            Ok(())
        })
    }

    /// Appends a descriptor the caller has checked, keeping count of the readable and writable
    /// bytes; a readable one after a writable one is refused (2.7.4.2).
    pub(super) fn push(&mut self, d: Descriptor) -> Result<(), ChainError> {
        if d.is_writable() {
            self.writable_len += u64::from(d.len);
        } else if self.readable < self.descriptors.len() {
            return Err(ChainError::ReadableAfterWritable);
        } else {
            self.readable += 1;
            self.readable_len += u64::from(d.len);
        }
        self.descriptors.push(d);
        Ok(())
    }

    /// Empties the chain for a new one starting at `head`.
    pub(super) fn reset(&mut self, head: u16) {
        self.head = head;
        self.descriptors.clear();
        self.readable = 0;
        self.readable_len = 0;
        self.writable_len = 0;
    }
}

/// Calls `f(gpa, n)` for each piece of the buffers `descs` that covers the byte stream's
/// `offset..offset+len`, in order. A range past the buffers' end is an error, and then `f` is
/// never called: the caller asked for bytes the chain does not have.
fn for_each_segment(
    descs: &[Descriptor],
    offset: u64,
    len: usize,
    mut f: impl FnMut(u64, usize) -> Result<(), MemoryError>,
) -> Result<(), MemoryError> {
    // All or nothing: a range past the buffers' end is refused before a byte moves.
    let total: u64 = descs.iter().map(|d| u64::from(d.len)).sum();
    if offset.checked_add(len as u64).is_none_or(|end| end > total) {
        return Err(MemoryError::OutOfBounds { gpa: offset, len: len as u64, size: total });
    }
    let mut skip = offset;
    let mut left = len as u64;
    for d in descs {
        if left == 0 {
            break;
        }
        let dlen = u64::from(d.len);
        if skip >= dlen {
            skip -= dlen;
            continue;
        }
        let n = (dlen - skip).min(left);
        // d.addr + d.len was checked against RAM when the chain was popped, so no overflow.
        f(d.addr + skip, n as usize)?;
        left -= n;
        skip = 0;
    }
    Ok(())
}
