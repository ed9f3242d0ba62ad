//! Property test of the transport: any sequence of MMIO accesses (any offset, width, value, in
//! any order, with interrupts raised in between) leaves the register file in a state 4.2.2 and
//! 3.1.1 allow: FEATURES_OK only with features the device offered and VERSION_1, DRIVER_OK only
//! after FEATURES_OK, a ready queue only with a size and areas 2.7 allows, InterruptStatus only
//! with defined bits, the configuration space unchanged. Seeded; the virtqueue fuzzer's long
//! run (virtio/fuzz.rs) runs it with fresh seeds too.

use super::*;
use crate::test_rng::Rng;
use crate::virtio::blk::Blk;
use crate::virtio::fuzz::{pick, run_seeds};
use crate::virtio::testing::VecDisk;
use crate::virtio::{VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_FEATURES_OK};

/// Any MMIO access sequence: the register file stays consistent.
pub(in crate::virtio) fn run_transport_case(seed: u64) {
    let mut rng = Rng::new(seed);
    let read_only = rng.next().is_multiple_of(2);
    let blk = Blk::new(VecDisk::new(vec![0; 4096], read_only), 4096, read_only, "t");
    let mut t: MmioTransport = blk.transport();
    let offsets = [0x14, 0x20, 0x24, 0x30, 0x38, 0x44, 0x50, 0x60, 0x64, 0x70, 0x80, 0x90, 0xa0];
    for step in 0..200 {
        let offset = pick(&mut rng, &offsets, 0x140);
        let width = [1usize, 2, 4, 4, 4, 8][rng.next() as usize % 6];
        let value = pick(&mut rng, &[0, 1, 0xF, 0x8, 0x4, 0x100, 1 << 31], u64::MAX);
        let bytes = value.to_le_bytes();
        if rng.next().is_multiple_of(3) {
            let mut b = vec![0; width];
            t.read(offset, &mut b);
        } else {
            let effect = t.write(offset, &bytes[..width]);
            if effect == WriteEffect::DriverOk {
                assert_ne!(t.status() & VIRTIO_CONFIG_S_FEATURES_OK, 0, "seed {seed}");
            }
        }
        if rng.next().is_multiple_of(16) {
            t.raise_interrupt(1);
        }
        let at = format!("seed {seed} step {step}");
        let s = t.status();
        assert_eq!(s & !0xFF, 0, "{at}");
        if s & VIRTIO_CONFIG_S_FEATURES_OK != 0 {
            let f = t.driver_features();
            assert_eq!(f & !blk.device_features(), 0, "{at}");
            assert_ne!(f & (1 << 32), 0, "{at}");
        }
        if s & VIRTIO_CONFIG_S_DRIVER_OK != 0 {
            assert_ne!(s & VIRTIO_CONFIG_S_FEATURES_OK, 0, "{at}");
        }
        assert_eq!(t.interrupt_status() & !3, 0, "{at}");
        if let Some(q) = t.queue_config(0) {
            assert_eq!(q.check(256), Ok(()), "{at}");
        }
        let mut b = [0u8; 8];
        t.read(VIRTIO_MMIO_CONFIG, &mut b);
        assert_eq!(u64::from_le_bytes(b), 8, "{at}: capacity");
    }
}

#[test]
fn any_mmio_access_sequence_keeps_the_transport_consistent() {
    assert_eq!(run_seeds(1..=300, run_transport_case), 300);
}
