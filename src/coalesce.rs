//! Coalescing COM1's THR: once a guest has written it [`AFTER`] times, its writes to port 0x3F8
//! wait in KVM's coalesced ring (kvm/coalesced.rs; api.rst 4.116) instead of each ending
//! KVM_RUN, and this hook applies them to the UART, in order, before the loop handles the next
//! exit, so the UART, the output and any trace see the guest's order. `--no-coalesce` (or gdb,
//! whose `stepi` over an `out` must see the exit) turns it off.
//!
//! The zone is registered only while THR writes need no exit to be right: not while the
//! THR-empty interrupt is enabled (each write must raise it) nor in loopback (each byte goes
//! back to the receiver); the guest changing those registers exits (they are other ports), and
//! the zone follows, at most [`MAX_CHANGES`] times (each change costs KVM a grace period).
//! The ring is the VM's and does not say which vCPU wrote an entry, so only a VM with one
//! vCPU coalesces. Only a guest that writes COM1 enough ever runs this file (main.rs attaches it
//! through [`crate::vcpu::Later`]).

use crate::devices::uart::{COM1_BASE, IER_ETBEI};
use crate::devices::ByteSink;
use crate::error::Ending;
use crate::kvm::coalesced::{Ring, KVM_CAP_COALESCED_MMIO, KVM_CAP_COALESCED_PIO};
use crate::kvm::Exit;
use crate::vcpu::{Runner, VcpuHook};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// THR writes that exit before the ring takes over: at several µs an exit, about what
/// registering and later unregistering the zone costs.
pub const AFTER: u32 = 512;
/// After this many zone changes, THR writes simply exit for the rest of the run.
const MAX_CHANGES: u32 = 8;

/// What coalescing did, for `--stats` and `--trace`: writes that waited in KVM's ring, drains,
/// and the last drain's writes with the bytes they sent. One VM with one vCPU per process.
pub struct Coalesced {
    pub writes: AtomicU64,
    pub drains: AtomicU64,
    pub batch: Mutex<Option<(u32, Vec<u8>)>>,
}

pub static COUNTERS: Coalesced =
    Coalesced { writes: AtomicU64::new(0), drains: AtomicU64::new(0), batch: Mutex::new(None) };

/// The hook, once attached to vCPU 0.
pub struct Coalesce {
    ring: Arc<Ring>,
    registered: bool,
    changes: u32,
}

/// Attaches coalescing to `cpu` (vCPU 0 of a one-vCPU VM): `None` where this KVM has no
/// coalesced PIO or the ring is out of the vCPU's mapping.
pub fn attach(cpu: &mut Runner) -> Option<Box<dyn VcpuHook>> {
    let vm = cpu.vcpu.vm();
    let page = vm.check_extension(KVM_CAP_COALESCED_MMIO);
    if vm.check_extension(KVM_CAP_COALESCED_PIO) <= 0 || page <= 0 {
        return None;
    }
    let ring = Arc::new(cpu.vcpu.coalesced_ring(page as u32)?);
    let watched = Arc::clone(&ring);
    let _ = cpu
        .io
        .out
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pending
        .also
        .set(Box::new(move || watched.waiting_at()));
    crate::console::note(|| {
        format!("COM1: THR writes go to KVM's coalesced ring after the first {AFTER}, no exit each (page {page} of the vCPU mapping); --no-coalesce turns it off")
    });
    let mut hook = Coalesce { ring, registered: false, changes: 0 };
    hook.follow(cpu);
    Some(Box::new(hook))
}

impl Coalesce {
    /// Applies the writes waiting in the ring to COM1, and sends what they transmit out.
    fn drain(&self, cpu: &mut Runner) -> Result<(), Ending> {
        let mut sent = Vec::new();
        let mut com1 = cpu.io.bus.com1();
        let writes = self.ring.drain(|w| {
            for (i, &byte) in w.data[..usize::from(w.len)].iter().enumerate() {
                let port = w.addr.wrapping_add(i as u64);
                if w.pio && (u64::from(COM1_BASE)..u64::from(COM1_BASE) + 8).contains(&port) {
                    sent.extend(com1.write((port - u64::from(COM1_BASE)) as u8, byte));
                }
            }
        });
        drop(com1);
        if writes > 0 {
            COUNTERS.writes.fetch_add(u64::from(writes), Ordering::Relaxed);
            COUNTERS.drains.fetch_add(1, Ordering::Relaxed);
            *COUNTERS.batch.lock().unwrap_or_else(|e| e.into_inner()) =
                Some((writes, sent.clone()));
        }
        sent.into_iter().try_for_each(|b| cpu.io.out.push(b))
    }

    // [tour:zone-follow]
    /// Registers or unregisters the zone as COM1's registers now allow.
    fn follow(&mut self, cpu: &Runner) {
        let allowed = {
            let com1 = cpu.io.bus.com1();
            com1.uart.ier & IER_ETBEI == 0 && !com1.uart.loopback()
        };
        if allowed == self.registered || self.changes >= MAX_CHANGES {
            return;
        }
        self.changes += 1;
        let vm = cpu.vcpu.vm();
        let done = if allowed {
            vm.register_coalesced_mmio(COM1_BASE, 1)
        } else {
            vm.unregister_coalesced_mmio(COM1_BASE, 1)
        };
        self.registered = if done.is_ok() { allowed } else { self.registered };
    }
    // [/tour:zone-follow]
}

impl VcpuHook for Coalesce {
    fn on_exit(&mut self, cpu: &mut Runner, _exit: &Exit) -> Result<bool, Ending> {
        self.drain(cpu).map(|()| false)
    }

    fn after_exit(&mut self, cpu: &mut Runner, exit: &Exit, _next: &mut Option<Ending>) {
        if matches!(exit, Exit::Io { out: true, port: COM1_BASE..=0x3FF, .. }) {
            self.follow(cpu);
        }
    }

    fn end(&mut self, cpu: &mut Runner, ending: &mut Ending, _lines: &mut Vec<String>) {
        if let (Err(lost), Ending::Halted | Ending::Exit(_)) = (self.drain(cpu), &*ending) {
            *ending = lost;
        }
        if self.registered {
            let _ = cpu.vcpu.vm().unregister_coalesced_mmio(COM1_BASE, 1);
        }
        self.changes = MAX_CHANGES;
    }
}
