//! The last exits of a vCPU, kept for the crash report: a fixed ring the run loop fills on
//! every exit.
//!
//! A fault says where the guest ended, not how it got there; the exits before it often do (a
//! flood of MMIO reads is a guest running through memory that holds no code). The hot path
//! pays for this with a copy of three words per exit into an array that never grows: no
//! allocation, no ioctl (RIP comes from the registers KVM synced into `kvm_run`, where it did,
//! api.rst 4.10 KVM_CAP_SYNC_REGS). Only a fault reads the ring, oldest exit first.

use crate::kvm::{ExitKind, VmExit};
use std::fmt::Write as _;

/// How many exits the report shows.
pub const RECENT_EXITS: usize = 16;

/// One exit, as the ring keeps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitRecord {
    pub kind: ExitKind,
    /// An MMIO store (for MMIO exits; I/O exits have their direction in `kind`).
    pub write: bool,
    /// The port (I/O), the guest-physical address (MMIO), the linear PC (debug), else 0.
    pub place: u64,
    /// RIP as KVM left it at the exit (for `in`/`out`, past the instruction on some KVMs),
    /// when KVM synced the registers.
    pub rip: Option<u64>,
}

impl ExitRecord {
    const EMPTY: ExitRecord = ExitRecord {
        kind: ExitKind::Other,
        write: false,
        place: 0,
        rip: None,
    };

    /// The record of `exit`, with the RIP KVM synced (if it did).
    pub fn of(exit: &VmExit<'_>, rip: Option<u64>) -> ExitRecord {
        // (The run loop passes None and sets RIP after handling: ExitRing::set_last_rip.)
        let (write, place) = match exit {
            VmExit::IoOut { port, .. } | VmExit::IoIn { port, .. } => (false, u64::from(*port)),
            VmExit::MmioRead { addr, .. } => (false, *addr),
            VmExit::MmioWrite { addr, .. } => (true, *addr),
            VmExit::Debug { pc, .. } => (false, *pc),
            _ => (false, 0),
        };
        ExitRecord {
            kind: exit.kind(),
            write,
            place,
            rip,
        }
    }

    /// One line: `KVM_EXIT_IO out port 0x3f8  RIP 0x1234`.
    pub fn describe(&self) -> String {
        let what = match self.kind {
            ExitKind::IoOut => format!("out port {:#06x}", self.place),
            ExitKind::IoIn => format!("in port {:#06x}", self.place),
            ExitKind::Mmio if self.write => format!("write {:#x}", self.place),
            ExitKind::Mmio => format!("read {:#x}", self.place),
            ExitKind::Debug => format!("at {:#x}", self.place),
            _ => String::new(),
        };
        let mut line = format!("{:<24}{what:<20}", self.kind.name());
        match self.rip {
            Some(rip) => {
                let _ = write!(line, "RIP {rip:#x}");
            }
            None => line.push_str("RIP not synced"),
        }
        line.trim_end().to_string()
    }
}

/// The last [`RECENT_EXITS`] exits of one vCPU.
#[derive(Debug, Clone)]
pub struct ExitRing {
    records: [ExitRecord; RECENT_EXITS],
    /// Exits recorded so far; the next goes to `count % RECENT_EXITS`.
    count: u64,
}

impl Default for ExitRing {
    fn default() -> Self {
        ExitRing {
            records: [ExitRecord::EMPTY; RECENT_EXITS],
            count: 0,
        }
    }
}

impl ExitRing {
    /// Keeps `record`, dropping the oldest once the ring is full. On the hot path: a store.
    #[inline]
    pub fn push(&mut self, record: ExitRecord) {
        self.records[(self.count % RECENT_EXITS as u64) as usize] = record;
        self.count += 1;
    }

    /// The RIP of the exit pushed last, read once the exit itself is handled.
    #[inline]
    pub fn set_last_rip(&mut self, rip: Option<u64>) {
        let last = (self.count.wrapping_sub(1) % RECENT_EXITS as u64) as usize;
        self.records[last].rip = rip;
    }

    /// How many exits were recorded in all (more than the ring holds, usually).
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The exits it holds, oldest first.
    pub fn oldest_first(&self) -> Vec<ExitRecord> {
        let held = self.count.min(RECENT_EXITS as u64) as usize;
        let start = (self.count - held as u64) % RECENT_EXITS as u64;
        (0..held)
            .map(|i| self.records[(start as usize + i) % RECENT_EXITS])
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(port: u64) -> ExitRecord {
        ExitRecord {
            kind: ExitKind::IoOut,
            write: false,
            place: port,
            rip: Some(port * 2),
        }
    }

    #[test]
    fn the_ring_keeps_the_last_sixteen_oldest_first() {
        let mut ring = ExitRing::default();
        assert!(ring.oldest_first().is_empty());
        for port in 0..5 {
            ring.push(io(port));
        }
        let held: Vec<u64> = ring.oldest_first().iter().map(|r| r.place).collect();
        assert_eq!(held, [0, 1, 2, 3, 4]);
        for port in 5..40 {
            ring.push(io(port));
        }
        let held: Vec<u64> = ring.oldest_first().iter().map(|r| r.place).collect();
        assert_eq!(held, (24..40).collect::<Vec<u64>>());
        assert_eq!(ring.count(), 40);
    }

    #[test]
    fn records_name_the_exit_the_place_and_rip() {
        let mut data = [0u8; 1];
        let exit = VmExit::MmioRead {
            addr: 0xfee0_0000,
            data: &mut data,
        };
        let r = ExitRecord::of(&exit, Some(0x1234));
        assert_eq!(
            r.describe(),
            "KVM_EXIT_MMIO           read 0xfee00000     RIP 0x1234"
        );
        assert_eq!(
            io(0x3f8).describe(),
            "KVM_EXIT_IO             out port 0x03f8     RIP 0x7f0"
        );
        let hlt = ExitRecord::of(&VmExit::Hlt, None);
        assert_eq!(
            hlt.describe(),
            "KVM_EXIT_HLT                                RIP not synced"
        );
    }
}
