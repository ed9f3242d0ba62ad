//! `--stats` (and `-v`): each vCPU's exits counted by reason, the time split between KVM_RUN
//! and mini-kvm, the ports and MMIO nobody answered, and what coalescing saved. A hook per vCPU
//! counts on every exit; the tables are printed when the run ends.

use crate::coalesce::COUNTERS;
use crate::error::Ending;
use crate::kvm::Exit;
use crate::machine::Layer;
use crate::vcpu::{Runner, VcpuHook};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// The rows of the table, in order: port I/O split by direction, kicks apart, the rest by reason.
const ROWS: [&str; 11] = [
    "KVM_EXIT_IO (out)",
    "KVM_EXIT_IO (in)",
    "KVM_EXIT_MMIO",
    "KVM_EXIT_HLT",
    "KVM_EXIT_SHUTDOWN",
    "KVM_EXIT_FAIL_ENTRY",
    "KVM_EXIT_INTERNAL_ERROR",
    "KVM_EXIT_SYSTEM_EVENT",
    "KVM_EXIT_DEBUG",
    "KVM_EXIT_INTR (kick)",
    "other",
];

fn row(exit: &Exit) -> usize {
    match exit {
        Exit::Io { out: true, .. } => 0,
        Exit::Io { out: false, .. } => 1,
        Exit::Interrupted => 9,
        Exit::Malformed { .. } | Exit::Other(_) => 10,
        other => ROWS.iter().position(|r| *r == other.name()).unwrap_or(10),
    }
}

/// The layer: `--stats` (a table per vCPU, with times) or `-v` (a summary line).
pub struct StatsLayer {
    pub table: bool,
}

impl Layer for StatsLayer {
    fn vcpu_hook(&mut self, _index: usize) -> Option<Box<dyn VcpuHook>> {
        Some(Box::new(Stats::new(self.table)))
    }
}

/// One vCPU's counts.
pub struct Stats {
    /// `--stats` (a table, with times), or only `-v` (a summary line).
    table: bool,
    counts: [u64; ROWS.len()],
    /// Port I/O and MMIO no device answered: (reads, writes) by port, and for MMIO.
    unclaimed: BTreeMap<u16, (u64, u64)>,
    unclaimed_mmio: (u64, u64),
    started: Instant,
    /// When the loop last entered or left KVM_RUN, and the time on each side.
    last: Option<Instant>,
    in_kvm: Duration,
    in_vmm: Duration,
}

impl Stats {
    pub fn new(table: bool) -> Stats {
        let (counts, unclaimed, unclaimed_mmio) = ([0; ROWS.len()], BTreeMap::new(), (0, 0));
        let (started, last, in_kvm, in_vmm) =
            (Instant::now(), None, Duration::ZERO, Duration::ZERO);
        Stats { table, counts, unclaimed, unclaimed_mmio, started, last, in_kvm, in_vmm }
    }

    fn lap(&mut self, into_kvm: bool) {
        let now = Instant::now();
        if let Some(last) = self.last {
            *(if into_kvm { &mut self.in_vmm } else { &mut self.in_kvm }) += now - last;
        }
        self.last = Some(now);
    }

    fn total(&self) -> u64 {
        self.counts.iter().sum()
    }
}

impl VcpuHook for Stats {
    fn before_run(&mut self, _cpu: &mut Runner) -> Option<Ending> {
        if self.table {
            self.lap(true);
        }
        None
    }

    fn on_exit(&mut self, _cpu: &mut Runner, exit: &Exit) -> Result<bool, Ending> {
        self.counts[row(exit)] += 1;
        if self.table {
            self.lap(false);
        }
        Ok(false)
    }

    fn after_exit(&mut self, cpu: &mut Runner, exit: &Exit, _next: &mut Option<Ending>) {
        if cpu.io.claimed {
            return;
        }
        match *exit {
            Exit::Io { out, port, count, .. } => {
                let (reads, writes) = self.unclaimed.entry(port).or_default();
                *(if out { writes } else { reads }) += u64::from(count);
            }
            Exit::Mmio { write, .. } => {
                *(if write { &mut self.unclaimed_mmio.1 } else { &mut self.unclaimed_mmio.0 }) += 1
            }
            _ => {}
        }
    }

    fn end(&mut self, cpu: &mut Runner, _ending: &mut Ending, lines: &mut Vec<String>) {
        let who = format!("vCPU {} ({})", cpu.index, cpu.name);
        let coalesced = COUNTERS.writes.load(Ordering::Relaxed);
        if crate::console::verbose() {
            let parts: Vec<String> = ROWS
                .iter()
                .zip(self.counts)
                .filter(|(_, n)| *n > 0)
                .map(|(r, n)| format!("{r} {n}"))
                .collect();
            let mut line = format!("mini-kvm: {who}: {} exits: {}", self.total(), parts.join(", "));
            if coalesced > 0 {
                let _ = write!(line, "; {coalesced} writes coalesced (no exit)");
            }
            lines.push(line);
        }
        for (port, (reads, writes)) in &self.unclaimed {
            let name = match port_name(*port) {
                "unknown" => String::new(),
                name => format!(" ({name})"),
            };
            lines.push(format!("mini-kvm: {who}: unclaimed port {port:#06x}{name}: {reads} reads (all ones), {writes} writes (ignored)"));
        }
        let (reads, writes) = self.unclaimed_mmio;
        if reads + writes > 0 {
            lines.push(format!("mini-kvm: {who}: MMIO with no memory behind it: {reads} reads (all ones), {writes} writes (dropped)"));
        }
        if self.table {
            lines.push(self.table(&who, coalesced));
        }
    }
}

impl Stats {
    /// The `--stats` table.
    fn table(&self, who: &str, coalesced: u64) -> String {
        let mut s = format!("mini-kvm stats: {who}\n");
        for (label, n) in ROWS.iter().zip(self.counts).filter(|(_, n)| *n > 0) {
            let _ = writeln!(s, "  {label:<26} {n:>10}");
        }
        let _ = writeln!(s, "  {:<26} {:>10}", "total", self.total());
        if coalesced > 0 {
            let drains = COUNTERS.drains.load(Ordering::Relaxed);
            let _ = writeln!(s, "  {:<26} {coalesced:>10} (no exits)", "coalesced writes (COM1)");
            let _ = writeln!(s, "  {:<26} {drains:>10}", "ring drains");
        }
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        let (wall, kvm, vmm) = (ms(self.started.elapsed()), ms(self.in_kvm), ms(self.in_vmm));
        let _ = write!(s, "  wall {wall:.3} ms, in KVM_RUN {kvm:.3} ms, in mini-kvm {vmm:.3} ms");
        if self.total() > 0 {
            let ns = self.in_vmm.as_nanos() as f64 / self.total() as f64;
            let _ = write!(s, " ({ns:.0} ns per exit)");
        }
        s
    }
}

/// What a PC has at a port mini-kvm leaves unclaimed: the names the ports an OS probes get.
pub fn port_name(port: u16) -> &'static str {
    match port {
        0x20 | 0x21 | 0xA0 | 0xA1 => "8259 PIC",
        0x40..=0x43 => "8254 PIT",
        0x4D0 | 0x4D1 => "PIC ELCR",
        0x60 | 0x64 => "PS/2 i8042",
        0x61 => "PC speaker / NMI status",
        0x70 | 0x71 => "CMOS RTC",
        0x80 => "POST diagnostic",
        0x00..=0x1F | 0x81..=0x8F | 0xC0..=0xDF => "DMA controller",
        0x2E | 0x2F | 0x4E | 0x4F => "Super I/O",
        0x2E8..=0x2EF | 0x2F8..=0x2FF | 0x3E8..=0x3EF => "COM2-COM4",
        0x378..=0x37A | 0x278..=0x27A => "parallel port",
        0x3B0..=0x3DF => "VGA",
        0x1F0..=0x1F7 | 0x170..=0x177 | 0x3F6 | 0x376 => "IDE",
        0x3F0..=0x3F5 | 0x3F7 => "floppy",
        0xCF8..=0xCFF => "PCI configuration",
        0x500 => "hypercall",
        _ => "unknown",
    }
}

#[cfg(test)]
mod tests;
