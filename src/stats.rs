//! Exit counters per vCPU: what `--stats` and `--verbose` print at the end of a run.
//!
//! Counting is one array increment per exit. Timing (how long each KVM_RUN took, and how long
//! the VMM then spent on the exit) needs two clock reads per exit, so it is done only with
//! `--stats`.

use crate::kvm::{ExitKind, VmExit};
use std::fmt::Write as _;
use std::time::{Duration, Instant};

/// How `--stats` labels a kind: its `KVM_EXIT_*` name, port I/O with its direction, and an
/// interrupted KVM_RUN as the kick it is.
fn label(kind: ExitKind) -> String {
    match kind {
        ExitKind::IoOut => format!("{} (out)", kind.name()),
        ExitKind::IoIn => format!("{} (in)", kind.name()),
        ExitKind::Interrupted => format!("{} (kick)", kind.name()),
        ExitKind::Other => "other".to_string(),
        _ => kind.name().to_string(),
    }
}

#[derive(Debug, Default, Clone)]
pub struct ExitStats {
    /// Exits per kind, indexed by `ExitKind as usize`.
    counts: [u64; ExitKind::ALL.len()],
    timed: bool,
    /// Time inside KVM_RUN (guest code plus KVM's own work).
    in_kvm: Duration,
    /// Time in mini-kvm between one KVM_RUN and the next.
    in_vmm: Duration,
    started: Option<Instant>,
    last: Option<Instant>,
    /// Guest writes KVM kept in the coalesced ring (no exit), and the drains that applied them.
    coalesced: u64,
    drains: u64,
}

impl ExitStats {
    pub fn new(timed: bool) -> ExitStats {
        ExitStats {
            timed,
            started: Some(Instant::now()),
            ..Default::default()
        }
    }

    /// Call just before KVM_RUN.
    #[inline]
    pub fn entering(&mut self) {
        if self.timed {
            let now = Instant::now();
            if let Some(last) = self.last {
                self.in_vmm += now - last;
            }
            self.last = Some(now);
        }
    }

    /// Call right after KVM_RUN returned with `exit`.
    #[inline]
    pub fn exited(&mut self, exit: &VmExit<'_>) {
        self.counts[exit.kind() as usize] += 1;
        if self.timed {
            let now = Instant::now();
            if let Some(last) = self.last {
                self.in_kvm += now - last;
            }
            self.last = Some(now);
        }
    }

    /// A drain of the coalesced ring applied `writes` writes.
    pub fn coalesced(&mut self, writes: u32) {
        self.coalesced += u64::from(writes);
        self.drains += 1;
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    /// One line: "13 exits: KVM_EXIT_IO (out) 12, KVM_EXIT_HLT 1".
    pub fn summary(&self) -> String {
        let parts: Vec<String> = ExitKind::ALL
            .into_iter()
            .zip(self.counts)
            .filter(|(_, n)| *n > 0)
            .map(|(kind, n)| format!("{} {n}", label(kind)))
            .collect();
        let mut line = format!("{} exits: {}", self.total(), parts.join(", "));
        if self.coalesced > 0 {
            let _ = write!(line, "; {} writes coalesced (no exit)", self.coalesced);
        }
        line
    }

    /// The `--stats` table for one vCPU.
    pub fn table(&self, title: &str) -> String {
        let mut s = format!("{title}\n");
        for (kind, n) in ExitKind::ALL.into_iter().zip(self.counts) {
            if n > 0 {
                let _ = writeln!(s, "  {:<26} {n:>10}", label(kind));
            }
        }
        let _ = writeln!(s, "  {:<26} {:>10}", "total", self.total());
        if self.coalesced > 0 {
            let _ = writeln!(
                s,
                "  {:<26} {:>10} (no exits)",
                "coalesced writes (COM1)", self.coalesced
            );
            let _ = writeln!(s, "  {:<26} {:>10}", "ring drains", self.drains);
        }
        if let Some(started) = self.started {
            let wall = started.elapsed();
            let _ = write!(s, "  wall {:.3} ms", wall.as_secs_f64() * 1e3);
            if self.timed {
                let _ = write!(
                    s,
                    ", in KVM_RUN {:.3} ms, in mini-kvm {:.3} ms",
                    self.in_kvm.as_secs_f64() * 1e3,
                    self.in_vmm.as_secs_f64() * 1e3
                );
                if self.total() > 0 {
                    let per_exit = self.in_vmm.as_nanos() as f64 / self.total() as f64;
                    let _ = write!(s, " ({per_exit:.0} ns per exit)");
                }
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_exit_kind() {
        let mut stats = ExitStats::new(false);
        let data = [b'A'];
        for _ in 0..3 {
            stats.exited(&VmExit::IoOut {
                port: 0x3F8,
                size: 1,
                data: &data,
                regs: crate::kvm::ExitRegs::Synced(&Default::default()),
            });
        }
        stats.exited(&VmExit::Hlt);
        assert_eq!(stats.total(), 4);
        assert_eq!(
            stats.summary(),
            "4 exits: KVM_EXIT_IO (out) 3, KVM_EXIT_HLT 1"
        );
        let table = stats.table("vCPU 0");
        assert!(table.contains("  KVM_EXIT_HLT"));
        assert!(table.contains("total"));
        assert!(!table.contains("MMIO"), "zero rows are left out");
    }
}
