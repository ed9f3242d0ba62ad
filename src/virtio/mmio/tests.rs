use super::*;
use crate::virtio::{
    VIRTIO_CONFIG_S_ACKNOWLEDGE as ACK, VIRTIO_CONFIG_S_DRIVER as DRIVER,
    VIRTIO_CONFIG_S_DRIVER_OK as DRIVER_OK, VIRTIO_CONFIG_S_FEATURES_OK as FEATURES_OK,
};

const VERSION_1: u64 = 1 << 32;
const FLUSH: u64 = 1 << 9;

fn device() -> MmioTransport {
    MmioTransport::new(2, VERSION_1 | FLUSH, &[256], vec![0x11, 0x22, 0x33, 0x44, 0x55])
}

fn r32(t: &mut MmioTransport, offset: u64) -> u32 {
    let mut b = [0u8; 4];
    t.read(offset, &mut b);
    u32::from_le_bytes(b)
}

fn w32(t: &mut MmioTransport, offset: u64, value: u32) -> WriteEffect {
    t.write(offset, &value.to_le_bytes())
}

/// What Linux's virtio_mmio does up to DRIVER_OK, with queue 0 at 0x1000/0x2000/0x3000.
fn bring_up(t: &mut MmioTransport, features: u64, size: u32) -> Vec<WriteEffect> {
    let mut effects = vec![
        w32(t, VIRTIO_MMIO_STATUS, 0),
        w32(t, VIRTIO_MMIO_STATUS, ACK),
        w32(t, VIRTIO_MMIO_STATUS, ACK | DRIVER),
        w32(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1),
        w32(t, VIRTIO_MMIO_DRIVER_FEATURES, (features >> 32) as u32),
        w32(t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0),
        w32(t, VIRTIO_MMIO_DRIVER_FEATURES, features as u32),
        w32(t, VIRTIO_MMIO_STATUS, ACK | DRIVER | FEATURES_OK),
        w32(t, VIRTIO_MMIO_QUEUE_SEL, 0),
        w32(t, VIRTIO_MMIO_QUEUE_NUM, size),
        w32(t, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000),
        w32(t, VIRTIO_MMIO_QUEUE_DESC_HIGH, 0),
        w32(t, VIRTIO_MMIO_QUEUE_AVAIL_LOW, 0x2000),
        w32(t, VIRTIO_MMIO_QUEUE_AVAIL_HIGH, 0),
        w32(t, VIRTIO_MMIO_QUEUE_USED_LOW, 0x3000),
        w32(t, VIRTIO_MMIO_QUEUE_USED_HIGH, 0),
        w32(t, VIRTIO_MMIO_QUEUE_READY, 1),
    ];
    effects.push(w32(t, VIRTIO_MMIO_STATUS, ACK | DRIVER | FEATURES_OK | DRIVER_OK));
    effects
}

#[test]
fn identification_registers() {
    let mut t = device();
    assert_eq!(r32(&mut t, VIRTIO_MMIO_MAGIC_VALUE), 0x7472_6976);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_VERSION), 2);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_DEVICE_ID), 2);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_VENDOR_ID), VENDOR_ID);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_QUEUE_NUM_MAX), 256);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_CONFIG_GENERATION), 0);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_SHM_LEN_LOW), 0xFFFF_FFFF);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_SHM_BASE_HIGH), 0xFFFF_FFFF);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_QUEUE_READY), 0);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_STATUS), 0);
    assert_eq!(r32(&mut t, 0x0f0), 0, "an offset with no register");
    w32(&mut t, VIRTIO_MMIO_QUEUE_SEL, 1);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_QUEUE_NUM_MAX), 0, "no queue 1");
}

#[test]
fn device_features_in_two_halves() {
    let mut t = device();
    w32(&mut t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_DEVICE_FEATURES), 1 << 9);
    w32(&mut t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_DEVICE_FEATURES), 1);
    w32(&mut t, VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_DEVICE_FEATURES), 0);
}

#[test]
fn config_space_reads_at_any_width_and_zero_beyond() {
    let mut t = device();
    let mut b = [0u8; 4];
    t.read(VIRTIO_MMIO_CONFIG + 1, &mut b[..2]);
    assert_eq!(&b[..2], [0x22, 0x33]);
    t.read(VIRTIO_MMIO_CONFIG + 3, &mut b);
    assert_eq!(b, [0x44, 0x55, 0, 0]);
    t.read(VIRTIO_MMIO_CONFIG + 0xF00, &mut b);
    assert_eq!(b, [0; 4]);
    t.read(u64::MAX, &mut b);
    assert_eq!(b, [0; 4]);
    assert_eq!(t.write(VIRTIO_MMIO_CONFIG, &[1]), WriteEffect::Ignored(Refusal::ReadOnly));
}

#[test]
fn linux_bring_up_reaches_driver_ok_with_the_queue() {
    let mut t = device();
    let effects = bring_up(&mut t, VERSION_1 | FLUSH, 128);
    assert_eq!(effects[0], WriteEffect::Reset);
    assert!(effects[1..effects.len() - 1].iter().all(|e| *e == WriteEffect::Done));
    assert_eq!(effects.last(), Some(&WriteEffect::DriverOk));
    assert_eq!(r32(&mut t, VIRTIO_MMIO_STATUS), ACK | DRIVER | FEATURES_OK | DRIVER_OK);
    assert_eq!(t.driver_features(), VERSION_1 | FLUSH);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_QUEUE_READY), 1);
    assert_eq!(
        t.queue_config(0),
        Some(QueueConfig { size: 128, desc_table: 0x1000, avail_ring: 0x2000, used_ring: 0x3000 })
    );
    assert_eq!(t.queue_config(1), None);
    assert_eq!(w32(&mut t, VIRTIO_MMIO_QUEUE_NOTIFY, 0), WriteEffect::QueueNotify(0));
    assert_eq!(w32(&mut t, VIRTIO_MMIO_QUEUE_NOTIFY, 1), WriteEffect::Ignored(Refusal::NotRunning));
}

#[test]
fn features_without_version_1_or_not_offered_are_refused() {
    for bad in [FLUSH, VERSION_1 | (1 << 5), VERSION_1 | (1 << 40)] {
        let mut t = device();
        let effects = bring_up(&mut t, bad, 128);
        assert_eq!(effects[7], WriteEffect::FeaturesRefused { driver: bad });
        assert_eq!(r32(&mut t, VIRTIO_MMIO_STATUS) & FEATURES_OK, 0);
        assert_eq!(effects.last(), Some(&WriteEffect::Ignored(Refusal::NoFeaturesOk)));
        assert_eq!(r32(&mut t, VIRTIO_MMIO_STATUS) & DRIVER_OK, 0);
        assert_eq!(
            w32(&mut t, VIRTIO_MMIO_QUEUE_NOTIFY, 0),
            WriteEffect::Ignored(Refusal::NotRunning)
        );
    }
    // A feature word past the second: there are none, so asking for one fails negotiation.
    let mut t = device();
    w32(&mut t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
    w32(&mut t, VIRTIO_MMIO_DRIVER_FEATURES, 1);
    w32(&mut t, VIRTIO_MMIO_DRIVER_FEATURES_SEL, 2);
    w32(&mut t, VIRTIO_MMIO_DRIVER_FEATURES, 1);
    assert!(matches!(
        w32(&mut t, VIRTIO_MMIO_STATUS, FEATURES_OK),
        WriteEffect::FeaturesRefused { .. }
    ));
}

#[test]
fn features_are_locked_after_features_ok() {
    let mut t = device();
    bring_up(&mut t, VERSION_1, 128);
    assert_eq!(
        w32(&mut t, VIRTIO_MMIO_DRIVER_FEATURES, 0xFFFF_FFFF),
        WriteEffect::Ignored(Refusal::FeaturesLocked)
    );
    assert_eq!(t.driver_features(), VERSION_1);
}

#[test]
fn a_queue_that_breaks_the_rules_is_not_made_ready() {
    for (register, value) in [
        (VIRTIO_MMIO_QUEUE_NUM, 100),
        (VIRTIO_MMIO_QUEUE_NUM, 512),
        (VIRTIO_MMIO_QUEUE_NUM, 0),
        (VIRTIO_MMIO_QUEUE_NUM, 0x1_0000),
        (VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1008),
        (VIRTIO_MMIO_QUEUE_USED_LOW, 0x3002),
    ] {
        let mut t = device();
        w32(&mut t, VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
        w32(&mut t, VIRTIO_MMIO_QUEUE_AVAIL_LOW, 0x2000);
        w32(&mut t, VIRTIO_MMIO_QUEUE_USED_LOW, 0x3000);
        w32(&mut t, register, value);
        assert!(matches!(
            w32(&mut t, VIRTIO_MMIO_QUEUE_READY, 1),
            WriteEffect::Ignored(Refusal::BadQueue(_))
        ));
        assert_eq!(r32(&mut t, VIRTIO_MMIO_QUEUE_READY), 0);
        assert_eq!(t.queue_config(0), None);
    }
    // The default size is QueueNumMax, which is valid.
    let mut t = device();
    assert_eq!(w32(&mut t, VIRTIO_MMIO_QUEUE_READY, 1), WriteEffect::Done);
    assert_eq!(t.queue_config(0).map(|c| c.size), Some(256));
}

#[test]
fn a_live_queue_cannot_be_moved() {
    let mut t = device();
    bring_up(&mut t, VERSION_1, 128);
    let before = t.queue_config(0);
    for register in [
        VIRTIO_MMIO_QUEUE_NUM,
        VIRTIO_MMIO_QUEUE_DESC_LOW,
        VIRTIO_MMIO_QUEUE_DESC_HIGH,
        VIRTIO_MMIO_QUEUE_AVAIL_LOW,
        VIRTIO_MMIO_QUEUE_AVAIL_HIGH,
        VIRTIO_MMIO_QUEUE_USED_LOW,
        VIRTIO_MMIO_QUEUE_USED_HIGH,
    ] {
        assert_eq!(w32(&mut t, register, 0x8000), WriteEffect::Ignored(Refusal::QueueLive));
    }
    assert_eq!(t.queue_config(0), before);
    // Stopping it is allowed and reported; starting it again while running is not.
    assert_eq!(w32(&mut t, VIRTIO_MMIO_QUEUE_READY, 0), WriteEffect::QueueDisabled(0));
    assert_eq!(r32(&mut t, VIRTIO_MMIO_QUEUE_READY), 0);
    assert_eq!(w32(&mut t, VIRTIO_MMIO_QUEUE_READY, 1), WriteEffect::Ignored(Refusal::QueueLive));
    assert_eq!(
        w32(&mut t, VIRTIO_MMIO_QUEUE_DESC_LOW, 0),
        WriteEffect::Ignored(Refusal::QueueLive)
    );
    // Before DRIVER_OK, a ready queue is fixed too, until QueueReady 0.
    let mut t = device();
    w32(&mut t, VIRTIO_MMIO_QUEUE_READY, 1);
    assert_eq!(w32(&mut t, VIRTIO_MMIO_QUEUE_NUM, 16), WriteEffect::Ignored(Refusal::QueueLive));
    assert_eq!(w32(&mut t, VIRTIO_MMIO_QUEUE_READY, 0), WriteEffect::Done);
    assert_eq!(w32(&mut t, VIRTIO_MMIO_QUEUE_NUM, 16), WriteEffect::Done);
    w32(&mut t, VIRTIO_MMIO_QUEUE_SEL, 7);
    assert_eq!(w32(&mut t, VIRTIO_MMIO_QUEUE_NUM, 16), WriteEffect::Ignored(Refusal::NoSuchQueue));
    assert_eq!(w32(&mut t, VIRTIO_MMIO_QUEUE_READY, 1), WriteEffect::Ignored(Refusal::NoSuchQueue));
}

#[test]
fn interrupts_are_raised_read_and_acknowledged() {
    let mut t = device();
    bring_up(&mut t, VERSION_1, 128);
    t.raise_interrupt(VIRTIO_MMIO_INT_VRING);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_INTERRUPT_STATUS), 1);
    assert!(t.set_needs_reset());
    assert_eq!(r32(&mut t, VIRTIO_MMIO_INTERRUPT_STATUS), 3);
    assert_ne!(r32(&mut t, VIRTIO_MMIO_STATUS) & 0x40, 0);
    assert_eq!(
        w32(&mut t, VIRTIO_MMIO_INTERRUPT_ACK, 1),
        WriteEffect::InterruptAck { acked: 1, pending: 2 }
    );
    assert_eq!(
        w32(&mut t, VIRTIO_MMIO_INTERRUPT_ACK, 2),
        WriteEffect::InterruptAck { acked: 2, pending: 0 }
    );
    let s = t.stats();
    assert_eq!((s.interrupt_status_reads, s.interrupt_acks, s.notifies), (2, 2, 0));
    // Before DRIVER_OK, a device needing a reset says so in Status only.
    let mut t = device();
    assert!(!t.set_needs_reset());
    assert_eq!(t.interrupt_status(), 0);
}

#[test]
fn status_bits_stick_until_reset_and_reset_clears_everything() {
    let mut t = device();
    bring_up(&mut t, VERSION_1, 128);
    t.raise_interrupt(1);
    w32(&mut t, VIRTIO_MMIO_QUEUE_SEL, 0);
    assert_eq!(w32(&mut t, VIRTIO_MMIO_STATUS, ACK), WriteEffect::Done);
    assert_eq!(
        r32(&mut t, VIRTIO_MMIO_STATUS),
        ACK | DRIVER | FEATURES_OK | DRIVER_OK,
        "a stray write does not clear bits"
    );
    assert_eq!(w32(&mut t, VIRTIO_MMIO_STATUS, 0), WriteEffect::Reset);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_STATUS), 0);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_INTERRUPT_STATUS), 0);
    assert_eq!(r32(&mut t, VIRTIO_MMIO_QUEUE_READY), 0);
    assert_eq!(t.queue_config(0), None);
    assert_eq!(t.driver_features(), 0);
    // And the device comes up again.
    assert_eq!(bring_up(&mut t, VERSION_1, 64).last(), Some(&WriteEffect::DriverOk));
    assert_eq!(t.queue_config(0).map(|c| c.size), Some(64));
}

#[test]
fn odd_widths_and_read_only_registers_are_not_written() {
    let mut t = device();
    assert_eq!(t.write(VIRTIO_MMIO_STATUS, &[1]), WriteEffect::Ignored(Refusal::Width));
    assert_eq!(
        t.write(VIRTIO_MMIO_STATUS, &[1, 0, 0, 0, 0, 0, 0, 0]),
        WriteEffect::Ignored(Refusal::Width)
    );
    assert_eq!(
        t.write(VIRTIO_MMIO_STATUS + 2, &[1, 0, 0, 0]),
        WriteEffect::Ignored(Refusal::ReadOnly),
        "0x72 is no register"
    );
    assert_eq!(r32(&mut t, VIRTIO_MMIO_STATUS), 0);
    for ro in [
        VIRTIO_MMIO_MAGIC_VALUE,
        VIRTIO_MMIO_VERSION,
        VIRTIO_MMIO_DEVICE_FEATURES,
        VIRTIO_MMIO_QUEUE_NUM_MAX,
        VIRTIO_MMIO_INTERRUPT_STATUS,
        VIRTIO_MMIO_CONFIG_GENERATION,
        VIRTIO_MMIO_QUEUE_RESET,
    ] {
        assert_eq!(w32(&mut t, ro, 0), WriteEffect::Ignored(Refusal::ReadOnly), "{ro:#x}");
    }
    assert_eq!(r32(&mut t, VIRTIO_MMIO_MAGIC_VALUE), MAGIC_VALUE);
    let mut b = [0xAAu8; 2];
    t.read(VIRTIO_MMIO_MAGIC_VALUE, &mut b);
    assert_eq!(b, [0, 0], "a 16-bit register read reads 0");
    let mut b = [0xAAu8; 4];
    t.read(VIRTIO_MMIO_MAGIC_VALUE + 1, &mut b);
    assert_eq!(b, [0; 4], "misaligned");
}

#[test]
fn every_offset_names_a_register() {
    assert_eq!(Register::at(0x050), Register::QueueNotify);
    assert_eq!(Register::at(0x064), Register::InterruptAck);
    assert_eq!(Register::at(0x108), Register::Config(8));
    assert_eq!(Register::at(0x0f8), Register::Unknown(0xf8));
    // Any offset and any access width: no panic, reads fill the buffer.
    let mut t = device();
    for offset in (0..0x200u64).chain([u64::MAX - 3, u64::MAX]) {
        for width in [1usize, 2, 4, 8] {
            let mut b = vec![0xAA; width];
            t.read(offset, &mut b);
            let _ = t.write(offset, &b);
        }
    }
}
