//! Running one probe guest: a one-vCPU VM of its own, a KVM_RUN loop with a watchdog, and how
//! the run ended. The probes themselves are in guests/probes/*.asm.

use crate::boot::{longmode, Layout, Plan};
use crate::devices::hypercall::{HC_EXIT, HC_EXIT_STATUS, HYPERCALL_PORT};
use crate::guests::{Image, PROBES};
use crate::kvm::bindings::*;
use crate::kvm::{Kvm, Vcpu, VcpuKick, VmExit};
use crate::setup;
use std::borrow::Cow;
use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How one probe run ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Ended {
    /// EXIT_STATUS with this code.
    Status(u8),
    /// A KVM exit that stopped the probe (shutdown, internal error...), in words.
    Exit(String),
    /// The watchdog kicked it.
    Timeout,
    /// The host failed to set it up or run it.
    Error(String),
}

/// A one-vCPU VM with 4 MiB of RAM running probe `name` in `plan` (Real or Long), built by
/// the same steps as every VM (setup.rs).
pub fn probe_vcpu(kvm: &Kvm, name: &str, plan: &Plan, irqchip: bool) -> Result<Vcpu, String> {
    let bytes = PROBES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, b)| *b)
        .ok_or_else(|| format!("no probe {name}"))?;
    let text = |e: crate::error::Error| e.to_string();
    let layout = Layout {
        ram: longmode::SLOT_SIZE,
        slot_size: longmode::SLOT_SIZE,
        high: 0,
        irqchip,
    };
    let mut vm = setup::create_vm(kvm).map_err(text)?;
    let memory = setup::add_memory(&mut vm, &layout, 1).map_err(text)?;
    if irqchip {
        setup::create_irqchip(kvm, &vm, false).map_err(text)?;
    }
    let image = Image {
        name: name.to_string(),
        origin: "probe".to_string(),
        bytes: Cow::Borrowed(bytes),
        mode: None,
    };
    let start = plan.load(&memory, 0, &image, "", &[])?;
    let cpuid = kvm.supported_cpuid().map_err(|e| e.to_string())?;
    setup::create_vcpu(&Arc::new(vm), 0, Some(&cpuid), &start).map_err(text)
}

/// Runs `vcpu` until the probe ends or `limit` passes. `on_exit` sees every exit with its time
/// and may end the run early by returning Some.
pub fn run_probe(
    vcpu: &mut Vcpu,
    limit: Duration,
    mut on_exit: impl FnMut(&VmExit<'_>, Instant) -> Option<Ended>,
) -> Ended {
    let kick = VcpuKick::for_current_thread(vcpu);
    let (done, wait) = mpsc::channel::<()>();
    let watchdog = std::thread::spawn(move || {
        if wait.recv_timeout(limit).is_err() {
            kick.kick();
            let _ = wait.recv(); // stay until the probe is over: no kick may land later
        }
    });
    let ended = loop {
        let exit = match vcpu.run() {
            Ok(exit) => exit,
            Err(e) => break Ended::Error(e.to_string()),
        };
        let now = Instant::now();
        if let Some(ended) = on_exit(&exit, now) {
            break ended;
        }
        if let Some(ended) = outcome(exit) {
            break ended;
        }
    };
    let _ = done.send(());
    let _ = watchdog.join();
    ended
}

/// What one exit means for a probe: `None` to run on, else how the probe ended. A probe's only
/// devices are the hypercall port (its result) and open-bus reads (all ones); any other exit
/// that stops the vCPU ends the probe, described by its `KVM_EXIT_*` name.
fn outcome(exit: VmExit<'_>) -> Option<Ended> {
    let name = exit.name();
    Some(match exit {
        VmExit::IoOut {
            port: HYPERCALL_PORT,
            regs,
            ..
        } => match regs.get() {
            Ok(r) if r.rax as u8 == HC_EXIT_STATUS => Ended::Status(r.rbx as u8),
            Ok(r) if r.rax as u8 == HC_EXIT => Ended::Status(0),
            Ok(_) => return None,
            Err(e) => Ended::Error(e.to_string()),
        },
        VmExit::IoOut { .. } | VmExit::MmioWrite { .. } => return None,
        VmExit::IoIn { data, .. } | VmExit::MmioRead { data, .. } => {
            data.fill(0xFF);
            return None;
        }
        VmExit::Interrupted => Ended::Timeout,
        VmExit::Hlt => Ended::Exit(name.into()),
        VmExit::Shutdown => Ended::Exit(format!("{name} (triple fault)")),
        VmExit::InternalError { suberror, .. } => {
            Ended::Exit(if suberror == KVM_INTERNAL_ERROR_EMULATION {
                format!("emulation failure ({name})")
            } else {
                format!("{name}, suberror {suberror}")
            })
        }
        VmExit::FailEntry { reason, .. } => Ended::Exit(format!("{name} ({reason:#x})")),
        VmExit::SystemEvent { kind } => Ended::Exit(format!("{name} {kind}")),
        // Single-steps: `on_exit` decides when it has seen enough.
        VmExit::Debug { .. } => return None,
        VmExit::Malformed { why, .. } => Ended::Error(format!("malformed {name}: {why}")),
        VmExit::Other(_) => Ended::Exit(name.into()),
    })
}
