//! `-v`: a vCPU's last exits, kept in a fixed ring the loop fills on every exit (no allocation),
//! and printed when the vCPU ends in a fault.

use crate::error::Ending;
use crate::kvm::Exit;
use crate::machine::Layer;
use crate::vcpu::{Runner, VcpuHook};
use std::fmt::Write as _;

/// How many exits the ring keeps.
pub const RECENT_EXITS: usize = 16;

/// The layer (`-v`): a ring for every vCPU.
pub struct RecentExits;

impl Layer for RecentExits {
    fn vcpu_hook(&mut self, _index: usize) -> Option<Box<dyn VcpuHook>> {
        Some(Box::new(Recent::default()))
    }
}

/// The last [`RECENT_EXITS`] exits and RIP at each (as KVM left it), and how many there were.
#[derive(Default)]
pub struct Recent {
    exits: [Option<(Exit, Option<u64>)>; RECENT_EXITS],
    count: u64,
}

impl VcpuHook for Recent {
    fn after_exit(&mut self, cpu: &mut Runner, exit: &Exit, _next: &mut Option<Ending>) {
        let rip = cpu.vcpu.regs_at_exit().ok().map(|r| r.rip);
        self.exits[(self.count % RECENT_EXITS as u64) as usize] = Some((*exit, rip));
        self.count += 1;
    }

    fn end(&mut self, _cpu: &mut Runner, ending: &mut Ending, lines: &mut Vec<String>) {
        if matches!(ending, Ending::Fault(_)) {
            lines.push(self.text());
        }
    }
}

impl Recent {
    /// The ring, oldest first.
    fn text(&self) -> String {
        let held = self.count.min(RECENT_EXITS as u64);
        let mut s = format!("  the last {held} of {} exits, oldest first (RIP as KVM left it: past an in/out on some KVMs):", self.count);
        for i in self.count - held..self.count {
            let Some((exit, rip)) = self.exits[(i % RECENT_EXITS as u64) as usize] else {
                continue;
            };
            let what = match exit {
                Exit::Io { out: true, port, .. } => format!("out port {port:#06x}"),
                Exit::Io { out: false, port, .. } => format!("in port {port:#06x}"),
                Exit::Mmio { addr, write: true, .. } => format!("write {addr:#x}"),
                Exit::Mmio { addr, .. } => format!("read {addr:#x}"),
                Exit::Debug { pc, .. } => format!("at {pc:#x}"),
                _ => String::new(),
            };
            let rip = rip.map_or("RIP not synced".into(), |r| format!("RIP {r:#x}"));
            let _ = write!(s, "\n    {}", format!("{:<24}{what:<20}{rip}", exit.name()).trim_end());
        }
        s
    }
}
