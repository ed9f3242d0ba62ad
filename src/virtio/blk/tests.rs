use super::*;
use crate::virtio::queue::VIRTQ_AVAIL_F_NO_INTERRUPT;
use crate::virtio::testing::{inb, out, Buf, Driver, VecDisk, VecRam};

const RAM: usize = 0x80000;
const HEAP: u64 = 0x10000;

fn header(kind: u32, sector: u64) -> Vec<u8> {
    let mut h = kind.to_le_bytes().to_vec();
    h.extend_from_slice(&[0; 4]);
    h.extend_from_slice(&sector.to_le_bytes());
    h
}

/// An image whose every byte says where it is.
fn image(sectors: u64) -> Vec<u8> {
    (0..sectors * 512).map(|i| (i / 512 + i) as u8).collect()
}

struct Rig {
    mem: VecRam,
    driver: Driver,
    queue: SplitQueue,
    blk: Blk<VecDisk>,
}

fn rig(sectors: u64, read_only: bool) -> Rig {
    let data = image(sectors);
    let len = data.len() as u64;
    let driver = Driver::new(16, HEAP);
    Rig {
        mem: VecRam::new(RAM),
        queue: SplitQueue::new(driver.config),
        driver,
        blk: Blk::new(VecDisk::new(data, read_only), len, read_only, "mini-kvm-disk"),
    }
}

impl Rig {
    /// Submits one request and serves it: (used length, status byte, buffer addresses).
    fn run(&mut self, bufs: &[Buf]) -> (u32, u8, Vec<u64>) {
        let (head, addrs) = self.driver.add(&self.mem, bufs);
        let done = self.blk.process_queue(&mut self.queue, &self.mem).unwrap();
        assert_eq!(done.completed, 1);
        let used = self.driver.take_used(&self.mem);
        assert_eq!(used.len(), 1);
        assert_eq!(used[0].0, u32::from(head));
        let last = bufs.len() - 1;
        let status_at = addrs[last] + bufs[last].data.len() as u64 - 1;
        (used[0].1, self.mem.peek(status_at, 1)[0], addrs)
    }

    fn disk(&self) -> &[u8] {
        &self.blk.disk.backend.data
    }
}

#[test]
fn features_config_and_transport() {
    let rw = rig(8, false);
    assert_eq!(rw.blk.device_features(), (1 << 32) | (1 << 9));
    assert_eq!(rw.blk.config_space(), 8u64.to_le_bytes());
    let ro = rig(8, true);
    assert_eq!(ro.blk.device_features(), (1 << 32) | (1 << 9) | (1 << 5));
    let mut t = ro.blk.transport();
    let mut b = [0u8; 4];
    t.read(crate::virtio::mmio::VIRTIO_MMIO_DEVICE_ID, &mut b);
    assert_eq!(u32::from_le_bytes(b), 2);
    t.read(crate::virtio::mmio::VIRTIO_MMIO_QUEUE_NUM_MAX, &mut b);
    assert_eq!(u32::from_le_bytes(b), 256);
    t.read(crate::virtio::mmio::VIRTIO_MMIO_CONFIG, &mut b);
    assert_eq!(u32::from_le_bytes(b), 8);
    // A partial last sector is not exposed.
    let odd = Blk::new(VecDisk::new(vec![0; 1000], false), 1000, false, "x");
    assert_eq!(odd.capacity_sectors(), 1);
}

#[test]
fn a_read_fills_the_buffer_and_says_ok() {
    let mut r = rig(8, false);
    let (used, status, addrs) = r.run(&[out(&header(VIRTIO_BLK_T_IN, 3)), inb(1024), inb(1)]);
    assert_eq!((used, status), (1025, VIRTIO_BLK_S_OK));
    assert_eq!(r.mem.peek(addrs[1], 1024), image(8)[3 * 512..5 * 512]);
    let s = r.blk.stats();
    assert_eq!((s.requests, s.read_bytes, s.io_errors), (1, 1024, 0));
}

#[test]
fn a_write_reaches_the_image_and_is_flushed_unless_flush_was_negotiated() {
    let mut r = rig(8, false);
    let data: Vec<u8> = (0..512).map(|i| (i * 7) as u8).collect();
    let (used, status, _) = r.run(&[out(&header(VIRTIO_BLK_T_OUT, 7)), out(&data), inb(1)]);
    assert_eq!((used, status), (1, VIRTIO_BLK_S_OK));
    assert_eq!(&r.disk()[7 * 512..], &data[..]);
    assert_eq!(r.disk()[..7 * 512], image(8)[..7 * 512], "nothing else changed");
    assert_eq!(r.blk.disk.backend.flushes, 1, "write-through without FLUSH");
    r.blk.activate((1 << 32) | (1 << 9));
    r.run(&[out(&header(VIRTIO_BLK_T_OUT, 0)), out(&data), inb(1)]);
    assert_eq!(r.blk.disk.backend.flushes, 1, "FLUSH negotiated: the driver flushes");
    let (_, status, _) = r.run(&[out(&header(VIRTIO_BLK_T_FLUSH, 0)), inb(1)]);
    assert_eq!(status, VIRTIO_BLK_S_OK);
    assert_eq!(r.blk.disk.backend.flushes, 2);
    let s = r.blk.stats();
    assert_eq!((s.written_bytes, s.flushes), (1024, 1));
}

#[test]
fn a_read_only_disk_refuses_writes_and_writes_nothing() {
    let mut r = rig(8, true);
    let (used, status, _) = r.run(&[out(&header(VIRTIO_BLK_T_OUT, 0)), out(&[1; 512]), inb(1)]);
    assert_eq!((used, status), (1, VIRTIO_BLK_S_IOERR));
    assert_eq!(r.disk(), image(8));
    // Reads still work.
    let (_, status, _) = r.run(&[out(&header(VIRTIO_BLK_T_IN, 0)), inb(512), inb(1)]);
    assert_eq!(status, VIRTIO_BLK_S_OK);
    assert_eq!(r.blk.stats().io_errors, 1);
}

#[test]
fn requests_outside_the_image_or_not_whole_sectors_fail() {
    let mut r = rig(8, false);
    let cases: [(u32, u64, usize); 6] = [
        (VIRTIO_BLK_T_IN, 8, 512),
        (VIRTIO_BLK_T_IN, 7, 1024),
        (VIRTIO_BLK_T_IN, u64::MAX, 512),
        (VIRTIO_BLK_T_IN, u64::MAX / 512 + 1, 512),
        (VIRTIO_BLK_T_IN, 0, 100),
        (VIRTIO_BLK_T_OUT, 8, 512),
    ];
    for (kind, sector, len) in cases {
        let data = if kind == VIRTIO_BLK_T_OUT { out(&vec![9; len]) } else { inb(len) };
        let (used, status, addrs) = r.run(&[out(&header(kind, sector)), data, inb(1)]);
        assert_eq!(status, VIRTIO_BLK_S_IOERR, "{kind} {sector} {len}");
        // No data written: the status byte alone counts only when it is all there is.
        let expected = if kind == VIRTIO_BLK_T_OUT { 1 } else { 0 };
        assert_eq!(used, expected, "{kind} {sector} {len}");
        if kind == VIRTIO_BLK_T_IN {
            assert!(r.mem.peek(addrs[1], len).iter().all(|&b| b == 0xEE));
        }
    }
    assert_eq!(r.disk(), image(8));
    // The last sector itself is fine.
    let (_, status, _) = r.run(&[out(&header(VIRTIO_BLK_T_IN, 7)), inb(512), inb(1)]);
    assert_eq!(status, VIRTIO_BLK_S_OK);
    // A zero-length read is whole sectors (none) and inside the image.
    let (used, status, _) = r.run(&[out(&header(VIRTIO_BLK_T_IN, 8)), inb(1)]);
    assert_eq!((used, status), (1, VIRTIO_BLK_S_OK));
}

#[test]
fn host_errors_are_ioerr() {
    let mut r = rig(8, false);
    r.blk.disk.backend.broken = true;
    for bufs in [
        vec![out(&header(VIRTIO_BLK_T_IN, 0)), inb(512), inb(1)],
        vec![out(&header(VIRTIO_BLK_T_OUT, 0)), out(&[0; 512]), inb(1)],
        vec![out(&header(VIRTIO_BLK_T_FLUSH, 0)), inb(1)],
    ] {
        let (_, status, _) = r.run(&bufs);
        assert_eq!(status, VIRTIO_BLK_S_IOERR);
    }
    assert_eq!(r.blk.stats().io_errors, 3);
}

#[test]
fn get_id_and_unknown_types() {
    let mut r = rig(8, false);
    let (used, status, addrs) = r.run(&[out(&header(VIRTIO_BLK_T_GET_ID, 0)), inb(20), inb(1)]);
    assert_eq!((used, status), (21, VIRTIO_BLK_S_OK));
    assert_eq!(r.mem.peek(addrs[1], 20), b"mini-kvm-disk\0\0\0\0\0\0\0");
    let (_, status, _) = r.run(&[out(&header(VIRTIO_BLK_T_GET_ID, 0)), inb(19), inb(1)]);
    assert_eq!(status, VIRTIO_BLK_S_IOERR, "no room for the ID");
    for kind in [2, 10, 11, 13, 14, 0xFFFF_FFFF] {
        let (used, status, _) = r.run(&[out(&header(kind, 0)), inb(512), inb(1)]);
        assert_eq!((used, status), (0, VIRTIO_BLK_S_UNSUPP), "type {kind}");
    }
    let (used, status, _) = r.run(&[out(&header(99, 0)), inb(1)]);
    assert_eq!((used, status), (1, VIRTIO_BLK_S_UNSUPP));
    assert_eq!(r.blk.stats().unsupported, 7);
    // A 20-byte ID has no NUL.
    let full = Blk::new(VecDisk::new(vec![], false), 0, false, "0123456789abcdefghijKLMN");
    assert_eq!(&full.disk.id, b"0123456789abcdefghij");
}

#[test]
fn the_layout_of_buffers_does_not_matter() {
    let mut r = rig(8, false);
    // Header in 5 + 11 bytes; data and status in one writable buffer.
    let h = header(VIRTIO_BLK_T_IN, 2);
    let (used, _, addrs) = r.run(&[out(&h[..5]), out(&h[5..]), inb(513)]);
    assert_eq!(used, 513);
    assert_eq!(r.mem.peek(addrs[2], 512), image(8)[1024..1536]);
    assert_eq!(r.mem.peek(addrs[2] + 512, 1), [VIRTIO_BLK_S_OK]);
    // Header and write data in one readable buffer, data split oddly.
    let mut first = header(VIRTIO_BLK_T_OUT, 1);
    first.extend_from_slice(&[0x5A; 100]);
    let (used, status, _) = r.run(&[out(&first), out(&[0x5A; 412]), inb(1)]);
    assert_eq!((used, status), (1, VIRTIO_BLK_S_OK));
    assert!(r.disk()[512..1024].iter().all(|&b| b == 0x5A));
}

#[test]
fn a_large_request_moves_through_the_fixed_buffer() {
    let sectors = 2 * (SEGMENT as u64) / 512 + 8;
    let mut r = rig(sectors, false);
    let len = (sectors * 512) as usize;
    let (used, status, addrs) = r.run(&[out(&header(VIRTIO_BLK_T_IN, 0)), inb(len), inb(1)]);
    assert_eq!((used as usize, status), (len + 1, VIRTIO_BLK_S_OK));
    assert_eq!(r.mem.peek(addrs[1], len), image(sectors));
    let back: Vec<u8> = image(sectors).iter().map(|b| !b).collect();
    let (_, status, _) = r.run(&[out(&header(VIRTIO_BLK_T_OUT, 0)), out(&back), inb(1)]);
    assert_eq!(status, VIRTIO_BLK_S_OK);
    assert_eq!(r.disk(), back);
    assert_eq!(r.blk.disk.backend.writes.len(), 3, "three buffers' worth");
}

#[test]
fn requests_without_status_room_or_header_get_length_zero() {
    let mut r = rig(8, false);
    r.mem.clear_logs();
    let (head, _) = r.driver.add(&r.mem, &[out(&header(VIRTIO_BLK_T_IN, 0)), out(&[0; 512])]);
    r.blk.process_queue(&mut r.queue, &r.mem).unwrap();
    assert_eq!(r.driver.take_used(&r.mem), [(u32::from(head), 0)]);
    let used_ring = r.driver.config.used_ring;
    assert!(
        r.mem.writes.borrow().iter().all(|&(gpa, _)| gpa >= used_ring),
        "only the used ring was written"
    );
    let (used, status, _) = r.run(&[out(&header(VIRTIO_BLK_T_IN, 0)[..15]), inb(1)]);
    assert_eq!((used, status), (0, 0xEE), "a short header: no status");
    assert_eq!(r.blk.stats().malformed, 2);
}

#[test]
fn a_bad_chain_is_returned_with_length_zero() {
    let mut r = rig(8, false);
    r.driver.put_desc(&r.mem, 3, HEAP, 16, crate::virtio::queue::VIRTQ_DESC_F_INDIRECT, 0);
    r.driver.publish(&r.mem, 3);
    let done = r.blk.process_queue(&mut r.queue, &r.mem).unwrap();
    assert_eq!(done.completed, 1);
    assert_eq!(r.driver.take_used(&r.mem), [(3, 0)]);
    assert_eq!(r.blk.stats().malformed, 1);
}

#[test]
fn the_header_is_read_once() {
    let mut r = rig(8, false);
    let (head, addrs) = r.driver.add(&r.mem, &[out(&header(VIRTIO_BLK_T_IN, 1)), inb(512), inb(1)]);
    r.mem.clear_logs();
    r.blk.process_queue(&mut r.queue, &r.mem).unwrap();
    let header_reads = r
        .mem
        .reads
        .borrow()
        .iter()
        .filter(|&&(gpa, _)| (addrs[0]..addrs[0] + 16).contains(&gpa))
        .count();
    assert_eq!(header_reads, 1);
    assert_eq!(r.driver.take_used(&r.mem), [(u32::from(head), 513)]);
}

#[test]
fn a_batch_completes_everything_and_asks_for_one_interrupt() {
    let mut r = rig(8, false);
    for s in 0..5 {
        r.driver.add(&r.mem, &[out(&header(VIRTIO_BLK_T_IN, s)), inb(512), inb(1)]);
    }
    let done = r.blk.process_queue(&mut r.queue, &r.mem).unwrap();
    assert_eq!(done, Completion { completed: 5, interrupt: true, more: false });
    assert_eq!(r.driver.take_used(&r.mem).len(), 5);
    // Nothing new: nothing done, no interrupt.
    let done = r.blk.process_queue(&mut r.queue, &r.mem).unwrap();
    assert_eq!(done, Completion::default());
    // The driver masked interrupts.
    r.mem.poke_u16(r.driver.config.avail_ring, VIRTQ_AVAIL_F_NO_INTERRUPT);
    r.driver.add(&r.mem, &[out(&header(VIRTIO_BLK_T_FLUSH, 0)), inb(1)]);
    let done = r.blk.process_queue(&mut r.queue, &r.mem).unwrap();
    assert_eq!((done.completed, done.interrupt), (1, false));
}

#[test]
fn a_broken_ring_stops_the_queue() {
    let mut r = rig(8, false);
    r.mem.poke_u16(r.driver.config.avail_ring + 2, 100);
    assert!(matches!(
        r.blk.process_queue(&mut r.queue, &r.mem),
        Err(QueueError::AvailIndex { .. })
    ));
}
