//! How a vCPU thread ends and reports: its outcome, its report to the main thread, and the
//! small interface through which the main thread stops it (machine/control.rs implements it).

use crate::devices::Accesses;
use crate::fault::Fault;
use crate::kvm::VcpuKick;
use crate::stats::ExitStats;
use std::collections::BTreeMap;

/// What a vCPU thread needs of whoever runs it (machine/control.rs): a way to be kicked out
/// of KVM_RUN, the stop flag to check before each entry, and somewhere to send its report.
pub trait RunControl: Send + Sync {
    /// Before the first KVM_RUN: how to kick this vCPU's thread out of it.
    fn register(&self, index: usize, kick: VcpuKick);
    /// Before the thread ends: never signal it again.
    fn unregister(&self, index: usize);
    /// Has the VM been asked to stop?
    fn stop_requested(&self) -> bool;
    /// Kick every other vCPU (this one stopped for the debugger: all-stop).
    fn kick_others(&self, index: usize);
    /// The thread's last word.
    fn report(&self, report: VcpuReport);
}

/// How one vCPU's run ended.
#[derive(Debug, Clone)]
pub enum VcpuOutcome {
    /// HLT with no interrupt controller to wake it, EXIT, or EXIT_STATUS 0.
    Halted,
    /// EXIT_STATUS with a non-zero status.
    Exited(u8),
    /// The guest broke (status 5).
    Fault(Box<Fault>),
    /// The host failed (status 1).
    HostError(String),
    /// Stopped from outside: timeout, signal, Ctrl-A x, another vCPU's fault.
    Stopped,
    /// The guest switched the machine off or reset it (status 0): why, in words.
    MachineOff(&'static str),
}

/// What a vCPU thread sends back when it ends.
#[derive(Debug)]
pub struct VcpuReport {
    pub index: usize,
    pub name: String,
    pub outcome: VcpuOutcome,
    pub stats: ExitStats,
    /// Ports nobody answers, and how often each was used.
    pub unclaimed_ports: BTreeMap<u16, Accesses>,
    /// MMIO to addresses with no memory behind them.
    pub unclaimed_mmio: Accesses,
}

impl VcpuReport {
    /// The report of a vCPU thread that could not finish normally.
    pub fn host_error(index: usize, name: String, why: String) -> VcpuReport {
        VcpuReport {
            index,
            name,
            outcome: VcpuOutcome::HostError(why),
            stats: ExitStats::default(),
            unclaimed_ports: BTreeMap::new(),
            unclaimed_mmio: Accesses::default(),
        }
    }
}
