//! virtio-blk: a disk image as a virtio block device (virtio 1.2, 5.2 "Block Device").
//!
//! Device ID 2, one request queue. The configuration space starts with the capacity in
//! 512-byte sectors (5.2.4); the features offered are VIRTIO_F_VERSION_1, VIRTIO_BLK_F_FLUSH
//! and, for a read-only image, VIRTIO_BLK_F_RO. A request (5.2.6) is one chain:
//!
//! ```text
//! device-readable:  type u32 | reserved u32 | sector u64    (16 bytes: the header)
//!                   data, for OUT (a multiple of 512 bytes)
//! device-writable:  data, for IN and GET_ID
//!                   status u8 (the last writable byte): OK 0, IOERR 1, UNSUPP 2
//! ```
//!
//! The driver may split those bytes over descriptors as it likes (2.6.4), so the device reads
//! the readable part and writes the writable part as byte streams ([`Chain::read`],
//! [`Chain::write`]). What each request does here:
//!
//! | type | does | status |
//! |---|---|---|
//! | IN 0 | pread of `sector * 512`, as many bytes as the writable part holds less the status | IOERR past the end, a length not a multiple of 512, a host error |
//! | OUT 1 | pwrite of the readable bytes after the header | the same, and IOERR on a read-only disk (nothing written) |
//! | FLUSH 4 | fdatasync | IOERR on a host error |
//! | GET_ID 8 | the 20-byte ID string into the writable part | IOERR if it has no room for 20 bytes |
//! | anything else | nothing | UNSUPP |
//!
//! The header is copied once and checked before anything moves; a request that has no
//! writable byte for its status, or a header shorter than 16 bytes, is answered without a
//! status. The used length (2.7.8) is the number of bytes written from the start of the
//! writable part: the data and the status byte after it, or less when a request failed.
//! Data moves through one fixed buffer of [`SEGMENT`] bytes: a request's size changes how many
//! times the buffer is refilled, never how much memory mini-kvm allocates.

use super::mmio::MmioTransport;
use super::queue::{Chain, PopError, QueueError, SplitQueue};
use super::{feature, GuestRam, VIRTIO_F_VERSION_1};
use std::io;

/// The block device's type (5, "Device Types").
pub const VIRTIO_ID_BLOCK: u32 = 2;
/// Feature bit 5: the device is read-only; writes fail.
pub const VIRTIO_BLK_F_RO: u32 = 5;
/// Feature bit 9: FLUSH requests exist (and, negotiated, writes may be cached until one).
pub const VIRTIO_BLK_F_FLUSH: u32 = 9;

pub const VIRTIO_BLK_T_IN: u32 = 0;
pub const VIRTIO_BLK_T_OUT: u32 = 1;
pub const VIRTIO_BLK_T_FLUSH: u32 = 4;
pub const VIRTIO_BLK_T_GET_ID: u32 = 8;

pub const VIRTIO_BLK_S_OK: u8 = 0;
pub const VIRTIO_BLK_S_IOERR: u8 = 1;
pub const VIRTIO_BLK_S_UNSUPP: u8 = 2;

/// The device ID string's length: NUL-padded, no NUL when all 20 bytes are used.
pub const VIRTIO_BLK_ID_BYTES: usize = 20;
/// Sectors are 512 bytes, whatever the image's own block size (5.2.6).
pub const SECTOR_SIZE: u64 = 512;
/// `struct virtio_blk_req`'s header: type, reserved, sector.
pub const REQUEST_HEADER_LEN: usize = 16;
/// QueueNumMax of the request queue: also the longest chain, so the most descriptors a
/// request can name.
pub const QUEUE_SIZE: u16 = 256;
/// The data buffer every transfer goes through, allocated once per device.
pub const SEGMENT: usize = 64 * 1024;

/// Where the disk's bytes live: pread/pwrite/fdatasync-shaped, so the tests use a `Vec` and
/// the machine a file or a copy in memory ([`super::backend::Backend`]).
pub trait DiskBackend {
    /// Fills `buf` from `offset`; an error if it cannot be filled.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()>;
    /// Writes all of `data` at `offset`.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()>;
    /// Makes what was written durable.
    fn flush(&mut self) -> io::Result<()>;
}

/// Counters for `--stats`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BlkStats {
    /// Chains taken from the queue, good or bad.
    pub requests: u64,
    /// Bytes read from the image into guest RAM.
    pub read_bytes: u64,
    /// Bytes written from guest RAM to the image.
    pub written_bytes: u64,
    pub flushes: u64,
    /// Requests answered IOERR.
    pub io_errors: u64,
    /// Requests answered UNSUPP.
    pub unsupported: u64,
    /// Requests that could not be answered with a status (a bad chain, no room for the status
    /// byte, a short header): returned with length 0.
    pub malformed: u64,
}

/// What one call of [`Blk::process_queue`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Completion {
    /// Chains returned to the used ring.
    pub completed: u32,
    /// The driver wants an interrupt for them: set VIRTIO_MMIO_INT_VRING and pulse the line.
    pub interrupt: bool,
    /// Stopped at the per-call limit (a queue's worth): more may be waiting, call again.
    pub more: bool,
}

/// One request as the device served it: what `--trace=virtio` prints (trace/virtio.rs).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Served {
    /// The header's type; `None` when the chain had no whole header.
    pub kind: Option<u32>,
    pub sector: u64,
    /// The data bytes: the readable ones after the header (OUT), or the writable ones before
    /// the status byte (IN, GET_ID).
    pub len: u64,
    /// The status byte written; `None`: the chain went back with length 0 (malformed).
    pub status: Option<u8>,
    /// The length returned in the used ring.
    pub used: u32,
}

/// What [`Blk::process_queue_upto`] calls for each request served, when someone watches.
pub type OnServed<'a> = &'a mut dyn FnMut(&Chain, &Served);

/// The request's outcome: status byte and how many writable bytes from the start were written
/// before it (data for IN and GET_ID).
struct Outcome {
    status: u8,
    written: u64,
}

impl Outcome {
    fn status(status: u8) -> Outcome {
        Outcome { status, written: 0 }
    }
}

/// The disk side of the device: the image and what it knows about it.
struct Disk<B> {
    backend: B,
    /// In 512-byte sectors.
    capacity: u64,
    read_only: bool,
    id: [u8; VIRTIO_BLK_ID_BYTES],
    /// VIRTIO_BLK_F_FLUSH was not negotiated: each write must be durable before it completes
    /// (5.2.6.1, the first way a write becomes stable).
    write_through: bool,
    buffer: Box<[u8]>,
    stats: BlkStats,
    /// The last request served.
    served: Served,
}

/// A virtio-blk device: the disk plus the chain buffer its requests are copied into.
pub struct Blk<B> {
    disk: Disk<B>,
    chain: Chain,
}

impl<B: DiskBackend> Blk<B> {
    /// A device for an image of `image_len` bytes (a partial last sector is not exposed), with
    /// `id` as its ID string (truncated to 20 bytes).
    pub fn new(backend: B, image_len: u64, read_only: bool, id: &str) -> Blk<B> {
        let mut id_bytes = [0u8; VIRTIO_BLK_ID_BYTES];
        let n = id.len().min(VIRTIO_BLK_ID_BYTES);
        id_bytes[..n].copy_from_slice(&id.as_bytes()[..n]);
        Blk {
            disk: Disk {
                backend,
                capacity: image_len / SECTOR_SIZE,
                read_only,
                id: id_bytes,
                write_through: true,
                buffer: vec![0u8; SEGMENT].into_boxed_slice(),
                stats: BlkStats::default(),
                served: Served::default(),
            },
            chain: Chain::with_capacity(QUEUE_SIZE),
        }
    }

    /// VIRTIO_F_VERSION_1 | VIRTIO_BLK_F_FLUSH, and VIRTIO_BLK_F_RO for a read-only image.
    pub fn device_features(&self) -> u64 {
        let ro = if self.disk.read_only { feature(VIRTIO_BLK_F_RO) } else { 0 };
        feature(VIRTIO_F_VERSION_1) | feature(VIRTIO_BLK_F_FLUSH) | ro
    }

    /// `struct virtio_blk_config` up to what the offered features make meaningful: the
    /// capacity (le64 at 0). Reads beyond it return 0, which every later field allows.
    pub fn config_space(&self) -> Vec<u8> {
        self.disk.capacity.to_le_bytes().to_vec()
    }

    /// The transport for this device: device ID, features, one queue, the configuration.
    pub fn transport(&self) -> MmioTransport {
        MmioTransport::new(
            VIRTIO_ID_BLOCK,
            self.device_features(),
            &[QUEUE_SIZE],
            self.config_space(),
        )
    }

    /// The driver set DRIVER_OK with these features (the transport's `driver_features`).
    pub fn activate(&mut self, driver_features: u64) {
        self.disk.write_through = driver_features & feature(VIRTIO_BLK_F_FLUSH) == 0;
    }

    #[cfg(test)]
    pub fn capacity_sectors(&self) -> u64 {
        self.disk.capacity
    }

    pub fn stats(&self) -> BlkStats {
        self.disk.stats
    }

    /// Serves the requests waiting in `queue`, at most `size` of them (the driver could add
    /// new ones as fast as they complete; the caller decides when to come back). A
    /// [`QueueError`] means the queue is broken: the machine sets DEVICE_NEEDS_RESET
    /// ([`MmioTransport::set_needs_reset`]) and stops serving it.
    #[cfg(test)]
    pub fn process_queue(
        &mut self,
        queue: &mut SplitQueue,
        mem: &impl GuestRam,
    ) -> Result<Completion, QueueError> {
        self.process_queue_upto(queue, mem, u32::from(queue.config().size), None)
    }

    /// The same, at most `limit` requests (the machine's test-only switch stops at the k-th),
    /// showing each one served to `watch` if there is one (`--trace=virtio`).
    pub fn process_queue_upto(
        &mut self,
        queue: &mut SplitQueue,
        mem: &impl GuestRam,
        limit: u32,
        mut watch: Option<OnServed<'_>>,
    ) -> Result<Completion, QueueError> {
        let mut done = Completion::default();
        while done.completed < limit {
            if !self.serve_one(queue, mem)? {
                break;
            }
            if let Some(watch) = watch.as_mut() {
                watch(&self.chain, &self.disk.served);
            }
            done.completed += 1;
        }
        done.more = done.completed == limit;
        done.interrupt = done.completed > 0 && queue.needs_interrupt(mem)?;
        Ok(done)
    }

    /// Takes one chain, does it, returns it to the used ring: `Ok(false)` if none waited.
    pub fn serve_one(
        &mut self,
        queue: &mut SplitQueue,
        mem: &impl GuestRam,
    ) -> Result<bool, QueueError> {
        self.disk.served = Served::default();
        let (head, used) = match queue.pop(mem, &mut self.chain) {
            Ok(false) => return Ok(false),
            Ok(true) => (self.chain.head(), self.disk.execute(&self.chain, mem)),
            Err(PopError::Queue(e)) => return Err(e),
            Err(PopError::Chain { head, .. }) => {
                self.disk.stats.requests += 1;
                self.disk.stats.malformed += 1;
                (head, 0)
            }
        };
        self.disk.served.used = used;
        queue.push_used(mem, head, used)?;
        Ok(true)
    }

    /// The chain the last request was copied into (for the tests' checks).
    #[cfg(test)]
    pub fn last_chain(&self) -> &Chain {
        &self.chain
    }
}

impl<B: DiskBackend> Disk<B> {
    /// Does one request; returns the used length.
    fn execute(&mut self, chain: &Chain, mem: &impl GuestRam) -> u32 {
        self.stats.requests += 1;
        let writable = chain.writable_len();
        if writable == 0 || chain.readable_len() < REQUEST_HEADER_LEN as u64 {
            // No status byte to answer in, or no header: nothing to do, nothing to say.
            self.stats.malformed += 1;
            return 0;
        }
        // The header, copied once: the driver may rewrite guest RAM meanwhile.
        let mut header = [0u8; REQUEST_HEADER_LEN];
        if chain.read(mem, 0, &mut header).is_err() {
            self.stats.malformed += 1;
            return 0;
        }
        let kind = u32::from_le_bytes([header[0], header[1], header[2], header[3]]);
        let sector = u64::from_le_bytes([
            header[8], header[9], header[10], header[11], header[12], header[13], header[14],
            header[15],
        ]);
        let len = match kind {
            VIRTIO_BLK_T_OUT => chain.readable_len() - REQUEST_HEADER_LEN as u64,
            _ => writable - 1,
        };
        self.served = Served { kind: Some(kind), sector, len, ..Served::default() };
        let outcome = match kind {
            VIRTIO_BLK_T_IN => self.read_sectors(chain, mem, sector, len),
            VIRTIO_BLK_T_OUT => self.write_sectors(chain, mem, sector, len),
            VIRTIO_BLK_T_FLUSH => {
                self.stats.flushes += 1;
                match self.backend.flush() {
                    Ok(()) => Outcome::status(VIRTIO_BLK_S_OK),
                    Err(_) => Outcome::status(VIRTIO_BLK_S_IOERR),
                }
            }
            VIRTIO_BLK_T_GET_ID => self.get_id(chain, mem, writable - 1),
            _ => Outcome::status(VIRTIO_BLK_S_UNSUPP),
        };
        match outcome.status {
            VIRTIO_BLK_S_IOERR => self.stats.io_errors += 1,
            VIRTIO_BLK_S_UNSUPP => self.stats.unsupported += 1,
            _ => {}
        }
        if chain.write(mem, writable - 1, &[outcome.status]).is_err() {
            // Cannot happen: the chain's buffers were checked against RAM when it was popped.
            self.stats.malformed += 1;
            return 0;
        }
        self.served.status = Some(outcome.status);
        // The bytes written from the start of the writable part: all of it when the data
        // reached the status byte, else only the data (2.7.8 allows an underestimate).
        let used = if outcome.written + 1 == writable { writable } else { outcome.written };
        u32::try_from(used).unwrap_or(u32::MAX)
    }

    /// The byte offset of `len` bytes at `sector`, if the request is whole sectors inside the
    /// image.
    fn span(&self, sector: u64, len: u64) -> Option<u64> {
        if !len.is_multiple_of(SECTOR_SIZE) {
            return None;
        }
        let end = sector.checked_add(len / SECTOR_SIZE)?;
        (end <= self.capacity).then(|| sector * SECTOR_SIZE)
    }

    /// IN: image -> the writable part, a buffer at a time.
    fn read_sectors(
        &mut self,
        chain: &Chain,
        mem: &impl GuestRam,
        sector: u64,
        len: u64,
    ) -> Outcome {
        let Some(start) = self.span(sector, len) else {
            return Outcome::status(VIRTIO_BLK_S_IOERR);
        };
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(SEGMENT as u64) as usize;
            let buf = &mut self.buffer[..n];
            if self.backend.read_at(start + done, buf).is_err()
                || chain.write(mem, done, buf).is_err()
            {
                return Outcome { status: VIRTIO_BLK_S_IOERR, written: done };
            }
            done += n as u64;
            self.stats.read_bytes += n as u64;
        }
        Outcome { status: VIRTIO_BLK_S_OK, written: len }
    }

    /// OUT: the readable part after the header -> image, a buffer at a time.
    fn write_sectors(
        &mut self,
        chain: &Chain,
        mem: &impl GuestRam,
        sector: u64,
        len: u64,
    ) -> Outcome {
        if self.read_only {
            return Outcome::status(VIRTIO_BLK_S_IOERR);
        }
        let Some(start) = self.span(sector, len) else {
            return Outcome::status(VIRTIO_BLK_S_IOERR);
        };
        let mut done = 0u64;
        while done < len {
            let n = (len - done).min(SEGMENT as u64) as usize;
            let buf = &mut self.buffer[..n];
            if chain.read(mem, REQUEST_HEADER_LEN as u64 + done, buf).is_err()
                || self.backend.write_at(start + done, buf).is_err()
            {
                return Outcome::status(VIRTIO_BLK_S_IOERR);
            }
            done += n as u64;
            self.stats.written_bytes += n as u64;
        }
        if self.write_through && self.backend.flush().is_err() {
            return Outcome::status(VIRTIO_BLK_S_IOERR);
        }
        Outcome::status(VIRTIO_BLK_S_OK)
    }

    /// GET_ID: the 20-byte ID string at the start of the writable part.
    fn get_id(&mut self, chain: &Chain, mem: &impl GuestRam, room: u64) -> Outcome {
        if room < VIRTIO_BLK_ID_BYTES as u64 || chain.write(mem, 0, &self.id).is_err() {
            return Outcome::status(VIRTIO_BLK_S_IOERR);
        }
        Outcome { status: VIRTIO_BLK_S_OK, written: VIRTIO_BLK_ID_BYTES as u64 }
    }
}

#[cfg(test)]
mod tests;
