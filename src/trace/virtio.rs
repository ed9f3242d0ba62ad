//! `--trace=virtio`: the disk's requests, one line each, as the device serves them (virtio
//! 1.2, 2.7 split virtqueues, 5.2.6 block requests). No exit brings a request to mini-kvm
//! (KVM_IOEVENTFD), so these lines come from the disk thread, through the device's [`Watch`]:
//!
//! ```text
//! [disk] queue 0 ready: 8 descriptors at 0x169000, available ring at 0x169080, used ring at 0x169098
//! [disk] #1     +0.084ms  VIRTIO_BLK_T_IN    sector 0, 512 bytes           S_OK      head 0: [0] 0x16a000+16 R, [1] 0x16b000+512 W, [2] 0x16a010+1 W; used 513
//! [disk] irq    +0.002ms  InterruptStatus |= 1 (used buffer), KVM_IRQFD: GSI 5
//! ```
//!
//! A request's number is the count `MINI_KVM_TEST_KILL_AFTER_REQUESTS` counts; the time is
//! since the disk's previous line. Nothing here runs unless `--trace` names the class.

use crate::cli::Config;
use crate::error::Ending;
use crate::virtio::blk::{
    Served, VIRTIO_BLK_S_IOERR, VIRTIO_BLK_S_OK, VIRTIO_BLK_S_UNSUPP, VIRTIO_BLK_T_FLUSH,
    VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT,
};
use crate::virtio::device::Watch;
use crate::virtio::queue::{Chain, QueueConfig};
use crate::virtio::VIRTIO_BLK_IRQ;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// The watcher for this run's disk, if `--trace` asks for the class.
pub fn watch(config: &Config) -> Result<Option<Arc<dyn Watch>>, Ending> {
    if !config.flag("--trace")
        || super::parse_classes(config.value("--trace"))? & super::VIRTIO == 0
    {
        return Ok(None);
    }
    let clock = Mutex::new((0, Instant::now()));
    Ok(Some(Arc::new(DiskTrace { clock })))
}

struct DiskTrace {
    /// Requests so far, and when the last line's event happened.
    clock: Mutex<(u64, Instant)>,
}

impl DiskTrace {
    /// Prints `text` after the line's tag and the milliseconds since the last line; a request
    /// also counts one.
    fn line(&self, request: bool, text: &str) {
        let mut clock = self.clock.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let ms = (now - clock.1).as_secs_f64() * 1e3;
        clock.1 = now;
        clock.0 += u64::from(request);
        let number = if request { format!("#{}", clock.0) } else { "irq".into() };
        let _ = crate::console::write_line(&format!("[disk] {number:<6} +{ms:.3}ms  {text}"), None);
    }
}

impl Watch for DiskTrace {
    fn queue_ready(&self, q: &QueueConfig) {
        // The first request's time counts from here.
        self.clock.lock().unwrap_or_else(|e| e.into_inner()).1 = Instant::now();
        let _ = crate::console::write_line(
            &format!(
                "[disk] queue 0 ready: {} descriptors at {:#x}, available ring at {:#x}, used ring at {:#x}",
                q.size, q.desc_table, q.avail_ring, q.used_ring
            ),
            None,
        );
    }

    fn served(&self, chain: &Chain, s: &Served) {
        let kind = match s.kind {
            Some(VIRTIO_BLK_T_IN) => "VIRTIO_BLK_T_IN".to_string(),
            Some(VIRTIO_BLK_T_OUT) => "VIRTIO_BLK_T_OUT".into(),
            Some(VIRTIO_BLK_T_FLUSH) => "VIRTIO_BLK_T_FLUSH".into(),
            Some(VIRTIO_BLK_T_GET_ID) => "VIRTIO_BLK_T_GET_ID".into(),
            Some(other) => format!("type {other:#x}"),
            None => "no header".into(),
        };
        let what = match s.kind {
            Some(VIRTIO_BLK_T_IN | VIRTIO_BLK_T_OUT) => {
                format!("sector {}, {} bytes", s.sector, s.len)
            }
            _ => String::new(),
        };
        let status = match s.status {
            Some(VIRTIO_BLK_S_OK) => "S_OK".to_string(),
            Some(VIRTIO_BLK_S_IOERR) => "S_IOERR".into(),
            Some(VIRTIO_BLK_S_UNSUPP) => "S_UNSUPP".into(),
            Some(other) => format!("status {other:#x}"),
            None => "no status (a malformed chain)".into(),
        };
        let mut text = format!("{kind:<18} {what:<28} {status:<9} head {}:", chain.head());
        let mut index = chain.head();
        for (n, d) in chain.descriptors().iter().enumerate() {
            let rw = if d.is_writable() { "W" } else { "R" };
            let sep = if n == 0 { "" } else { "," };
            let _ = write!(text, "{sep} [{index}] {:#x}+{} {rw}", d.addr, d.len);
            index = d.next;
        }
        let _ = write!(text, "; used {}", s.used);
        self.line(true, &text);
    }

    fn interrupt(&self, irqfd: bool) {
        let how = if irqfd { "KVM_IRQFD" } else { "KVM_IRQ_LINE" };
        self.line(
            false,
            &format!("InterruptStatus |= 1 (used buffer), {how}: GSI {VIRTIO_BLK_IRQ}"),
        );
    }
}
