//! The device as the machine runs it, driven the way a driver drives it: register accesses
//! through [`MmioDevice`], requests in guest memory, the disk thread's batches called directly.
//! No KVM: the interrupt is an eventfd the test reads.

use super::*;
use crate::virtio::blk::{VIRTIO_BLK_S_OK, VIRTIO_BLK_T_IN};
use crate::virtio::mmio::*;
use std::borrow::Cow;

const DESC: u64 = 0x1000;
const AVAIL: u64 = 0x2000;
const USED: u64 = 0x3000;
const HEADER: u64 = 0x4000;
const STATUS: u64 = 0x4100;
const DATA: u64 = 0x5000;
const SIZE: u16 = 8;

fn w(d: &Device, offset: u64, value: u32) {
    assert!(MmioDevice::write(d, VIRTIO_BLK_MMIO_BASE + offset, &value.to_le_bytes()));
}

fn r(d: &Device, offset: u64) -> u32 {
    let mut b = [0u8; 4];
    assert!(MmioDevice::read(d, VIRTIO_BLK_MMIO_BASE + offset, &mut b));
    u32::from_le_bytes(b)
}

/// A device on `sectors` sectors in memory (sector n filled with byte n), its guest RAM, and
/// the driver's setup done: features, one queue of [`SIZE`], DRIVER_OK.
fn running(sectors: u8) -> (Device, Arc<GuestMemory>) {
    let image: Vec<u8> = (0..sectors).flat_map(|n| [n; 512]).collect();
    let len = image.len() as u64;
    let blk = Blk::new(Backend::Memory { bytes: Cow::Owned(image), len }, len, false, "test");
    let memory = Arc::new(GuestMemory::new(0x10_0000).unwrap());
    // The disk thread blocks on `notify`, as in the machine; the test reads `irq` when it may
    // be 0, so that one does not block.
    let (notify, irq) = (EventFd::new(false).unwrap(), EventFd::new(true).unwrap());
    let d = Device::new(blk, notify, Interrupt::Irqfd(irq), Arc::clone(&memory), (None, None));
    assert_eq!(r(&d, VIRTIO_MMIO_MAGIC_VALUE), MAGIC_VALUE);
    for status in [1, 3] {
        w(&d, VIRTIO_MMIO_STATUS, status);
    }
    w(&d, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    w(&d, VIRTIO_MMIO_DRIVER_FEATURES, 1); // VERSION_1
    w(&d, VIRTIO_MMIO_STATUS, 11);
    assert_eq!(r(&d, VIRTIO_MMIO_STATUS), 11, "features accepted");
    w(&d, VIRTIO_MMIO_QUEUE_NUM, SIZE.into());
    w(&d, VIRTIO_MMIO_QUEUE_DESC_LOW, DESC as u32);
    w(&d, VIRTIO_MMIO_QUEUE_AVAIL_LOW, AVAIL as u32);
    w(&d, VIRTIO_MMIO_QUEUE_USED_LOW, USED as u32);
    w(&d, VIRTIO_MMIO_QUEUE_READY, 1);
    w(&d, VIRTIO_MMIO_STATUS, 15);
    (d, memory)
}

/// Puts an IN request for `sector` (512 bytes) in the queue as available entry `n` (from 0).
fn read_request(mem: &GuestMemory, n: u16, sector: u64) {
    let mut header = [0u8; 16];
    header[..4].copy_from_slice(&VIRTIO_BLK_T_IN.to_le_bytes());
    header[8..].copy_from_slice(&sector.to_le_bytes());
    mem.write(HEADER, &header).unwrap();
    mem.write(STATUS, &[0xFF]).unwrap();
    let descs = [(HEADER, 16u32, 1u16, 1u16), (DATA, 512, 3, 2), (STATUS, 1, 2, 0)];
    for (i, (addr, len, flags, next)) in descs.into_iter().enumerate() {
        let mut d = [0u8; 16];
        d[..8].copy_from_slice(&addr.to_le_bytes());
        d[8..12].copy_from_slice(&len.to_le_bytes());
        d[12..14].copy_from_slice(&flags.to_le_bytes());
        d[14..].copy_from_slice(&next.to_le_bytes());
        mem.write(DESC + 16 * i as u64, &d).unwrap();
    }
    let slot = u64::from(n % SIZE);
    mem.write(AVAIL + 4 + 2 * slot, &0u16.to_le_bytes()).unwrap();
    mem.write(AVAIL + 2, &(n + 1).to_le_bytes()).unwrap();
}

fn u16_at(mem: &GuestMemory, gpa: u64) -> u16 {
    let mut b = [0u8; 2];
    mem.read(gpa, &mut b).unwrap();
    u16::from_le_bytes(b)
}

/// How many times the device pulsed its line since the last call.
fn interrupts(d: &Device) -> u64 {
    match &d.interrupt {
        Interrupt::Irqfd(e) => e.take().unwrap_or(0),
        Interrupt::Line(_) => unreachable!("the tests use an eventfd"),
    }
}

#[test]
fn a_request_goes_from_the_queue_to_the_disk_and_back_with_one_interrupt() {
    let (d, mem) = running(4);
    read_request(&mem, 0, 2);
    w(&d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    assert_eq!(d.notify.take().unwrap(), 1, "a notify exit wakes the disk thread");
    assert!(!d.serve_batch(), "one request, nothing more");
    let mut status = [0u8];
    mem.read(STATUS, &mut status).unwrap();
    assert_eq!(status[0], VIRTIO_BLK_S_OK);
    let mut data = [0u8; 512];
    mem.read(DATA, &mut data).unwrap();
    assert_eq!(data, [2u8; 512], "sector 2");
    assert_eq!(u16_at(&mem, USED + 2), 1);
    assert_eq!(interrupts(&d), 1);
    assert_eq!(r(&d, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
    w(&d, VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
    assert_eq!(r(&d, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    let (blk, transport) = d.stats();
    assert_eq!((blk.requests, blk.read_bytes), (1, 512));
    assert_eq!((transport.notifies, transport.interrupt_status_reads), (1, 2));
    assert_eq!(transport.interrupt_acks, 1);
}

#[test]
fn accesses_outside_the_page_are_not_the_devices() {
    let (d, _mem) = running(1);
    let mut b = [0u8; 4];
    assert!(!MmioDevice::read(&d, VIRTIO_BLK_MMIO_BASE - 4, &mut b));
    assert!(!MmioDevice::read(&d, VIRTIO_BLK_MMIO_BASE + VIRTIO_MMIO_SIZE, &mut b));
    assert!(!MmioDevice::read(&d, VIRTIO_BLK_MMIO_BASE + VIRTIO_MMIO_SIZE - 2, &mut b));
    assert!(MmioDevice::read(&d, VIRTIO_BLK_MMIO_BASE + VIRTIO_MMIO_SIZE - 4, &mut b));
    assert!(!MmioDevice::write(&d, u64::MAX - 1, &b));
}

#[test]
fn after_a_reset_the_queue_is_not_touched() {
    let (d, mem) = running(4);
    w(&d, VIRTIO_MMIO_STATUS, 0);
    read_request(&mem, 0, 1);
    assert!(!d.serve_batch());
    assert_eq!(u16_at(&mem, USED + 2), 0, "nothing used");
    assert_eq!((d.stats().0.requests, interrupts(&d)), (0, 0));
}

#[test]
fn a_broken_ring_needs_a_reset_and_is_left_alone() {
    let (d, mem) = running(4);
    mem.write(AVAIL + 2, &100u16.to_le_bytes()).unwrap(); // 100 ahead of a queue of 8
    assert!(!d.serve_batch());
    assert_eq!(r(&d, VIRTIO_MMIO_STATUS) & 0x40, 0x40, "DEVICE_NEEDS_RESET");
    assert_eq!(r(&d, VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
    assert_eq!(interrupts(&d), 1);
    assert!(lock(&d.state).queue.is_none());
}

#[test]
fn the_disk_thread_serves_notifies_and_ends_when_stopped() {
    let (d, mem) = running(4);
    let d = Arc::new(d);
    let (done, ended) = std::sync::mpsc::channel();
    let thread = {
        let d = Arc::clone(&d);
        std::thread::spawn(move || {
            d.serve();
            let _ = done.send(());
        })
    };
    read_request(&mem, 0, 3);
    w(&d, VIRTIO_MMIO_QUEUE_NOTIFY, 0);
    let bound = std::time::Duration::from_secs(30); // catches a hang, nothing else
    let start = std::time::Instant::now();
    while u16_at(&mem, USED + 2) != 1 {
        assert!(start.elapsed() < bound, "the disk thread never served the request");
        std::thread::yield_now();
    }
    d.stop();
    assert!(ended.recv_timeout(bound).is_ok(), "the disk thread did not end");
    thread.join().unwrap();
}

#[test]
fn the_hole_below_4_gib_is_not_the_devices_to_use() {
    let big = DeviceRam(Arc::new(GuestMemory::new(HIGH_RAM_START + 0x1000).unwrap()));
    let mut b = [0u8; 16];
    assert!(big.read(LOW_RAM_END - 16, &mut b).is_ok());
    assert!(big.read(LOW_RAM_END - 8, &mut b).is_err(), "into the hole");
    assert!(big.write(VIRTIO_BLK_MMIO_BASE, &b).is_err());
    assert!(big.write(HIGH_RAM_START, &b).is_ok());
    let small = DeviceRam(Arc::new(GuestMemory::new(0x10_0000).unwrap()));
    assert!(small.read(0x10_0000 - 16, &mut b).is_ok());
    assert!(small.read(0x10_0000 - 8, &mut b).is_err(), "past RAM");
}
