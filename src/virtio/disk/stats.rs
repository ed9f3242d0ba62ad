//! The disk layer's `--stats` table: what the guest asked of the disk (virtio 1.2, 5.2.6
//! requests) and what it cost in exits (4.2.2: QueueNotify, InterruptStatus, InterruptACK).

use crate::virtio::blk::BlkStats;
use crate::virtio::mmio::TransportStats;
use std::fmt::Write as _;

/// The `--stats` table of the disk: what the guest asked for, and what it cost in exits.
pub fn table(name: &str, (blk, transport): (BlkStats, TransportStats), ioeventfd: bool) -> String {
    let mut s = format!("mini-kvm stats: disk: {name}\n");
    let errors = format!("{} / {} / {}", blk.io_errors, blk.unsupported, blk.malformed);
    let notifies = match ioeventfd {
        true => "(KVM_IOEVENTFD: no exit)",
        false => "(MMIO exits)",
    };
    let rows: [(&str, String, &str); 8] = [
        ("requests", blk.requests.to_string(), ""),
        ("bytes read", blk.read_bytes.to_string(), ""),
        ("bytes written", blk.written_bytes.to_string(), ""),
        ("flushes", blk.flushes.to_string(), ""),
        ("IOERR/UNSUPP/malformed", errors, ""),
        ("queue notify exits", transport.notifies.to_string(), notifies),
        ("InterruptStatus reads", transport.interrupt_status_reads.to_string(), "(MMIO exits)"),
        ("InterruptACK writes", transport.interrupt_acks.to_string(), "(MMIO exits)"),
    ];
    for (label, n, note) in rows {
        let _ = writeln!(s, "  {label:<26} {n:>10} {note}");
    }
    s.lines().map(str::trim_end).collect::<Vec<_>>().join("\n")
}
