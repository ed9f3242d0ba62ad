//! The disk layer's words: its `--stats` table.

use super::*;
use crate::virtio::blk::BlkStats;
use crate::virtio::mmio::TransportStats;

#[test]
fn the_stats_table_says_what_the_guest_asked_and_what_it_cost() {
    let blk = BlkStats {
        requests: 9,
        read_bytes: 1024,
        written_bytes: 512,
        flushes: 1,
        io_errors: 3,
        unsupported: 1,
        malformed: 0,
    };
    let transport =
        TransportStats { notifies: 0, interrupt_status_reads: 9, interrupt_acks: 9, other: 27 };
    let with = table("d.img", (blk, transport), true);
    assert_eq!(
        with,
        "mini-kvm stats: disk: d.img
  requests                            9
  bytes read                       1024
  bytes written                     512
  flushes                             1
  IOERR/UNSUPP/malformed      3 / 1 / 0
  queue notify exits                  0 (KVM_IOEVENTFD: no exit)
  InterruptStatus reads               9 (MMIO exits)
  InterruptACK writes                 9 (MMIO exits)"
    );
    let without = table("d.img", (blk, TransportStats { notifies: 9, ..transport }), false);
    assert!(without.contains("\n  queue notify exits                  9 (MMIO exits)\n"));
}
