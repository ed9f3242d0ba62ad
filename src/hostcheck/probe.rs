//! Running one probe guest: a one-vCPU VM of its own, a KVM_RUN loop with a watchdog, and how
//! the run ended. The probes themselves are in guests/probes/*.asm.

use crate::boot::{longmode, Layout, Plan};
use crate::console::HostInput;
use crate::devices::com1::Com1;
use crate::devices::{ByteSource, Devices, VcpuIo};
use crate::guests::{Image, PROBES};
use crate::kvm::bindings::*;
use crate::kvm::{Kvm, Vcpu, VcpuKick, VmExit};
use crate::setup;
use crate::vcpu::{handle_exit, ExitAction, Stop};
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
        origin: crate::guests::Origin::Probe,
        bytes: Cow::Borrowed(bytes),
        mode: None,
    };
    let start = plan
        .load(&memory, 0, &image, "", &[])
        .map_err(|e| e.to_string())?;
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
    // The probe's devices: the same bus and handle_exit as every run, its output kept aside.
    let input = HostInput::ended();
    let devices = Devices::new(Com1::new(Arc::clone(&input) as Arc<dyn ByteSource>));
    let mut io = VcpuIo::new(Vec::new(), input);
    let ended = loop {
        let exit = match vcpu.run() {
            Ok(exit) => exit,
            Err(e) => break Ended::Error(e.to_string()),
        };
        let now = Instant::now();
        if let Some(ended) = on_exit(&exit, now) {
            break ended;
        }
        match ended_by(&exit) {
            Next::Ended(ended) => break ended,
            Next::Run => continue,
            Next::Devices => {}
        }
        match handle_exit(exit, &devices, &mut io) {
            ExitAction::Continue | ExitAction::Kicked => {}
            ExitAction::Stop(Stop::Exit(status)) => break Ended::Status(status),
            ExitAction::Stop(Stop::Halted) => break Ended::Status(0),
            ExitAction::Stop(Stop::MachineOff(why)) => break Ended::Exit(why.into()),
            ExitAction::Stop(Stop::GuestFault(why)) => break Ended::Exit(why),
            ExitAction::Stop(Stop::HostError(why)) => break Ended::Error(why),
        }
    };
    let _ = done.send(());
    let _ = watchdog.join();
    ended
}

/// What the probe loop does with an exit that is not a device access.
enum Next {
    Ended(Ended),
    /// Single-steps: `on_exit` decides when it has seen enough.
    Run,
    /// Port I/O and MMIO: the devices' business (handle_exit).
    Devices,
}

/// How an exit that is no device access ends a probe, described by its `KVM_EXIT_*` name in
/// the words the host-check table shows.
fn ended_by(exit: &VmExit<'_>) -> Next {
    let name = exit.name();
    let end = |what: String| Next::Ended(Ended::Exit(what));
    match exit {
        VmExit::IoOut { .. } | VmExit::IoIn { .. } => Next::Devices,
        VmExit::MmioRead { .. } | VmExit::MmioWrite { .. } => Next::Devices,
        VmExit::Debug { .. } => Next::Run,
        VmExit::Interrupted => Next::Ended(Ended::Timeout),
        VmExit::Hlt => end(name.into()),
        VmExit::Shutdown => end(format!("{name} (triple fault)")),
        VmExit::InternalError { suberror, .. } => {
            end(if *suberror == KVM_INTERNAL_ERROR_EMULATION {
                format!("emulation failure ({name})")
            } else {
                format!("{name}, suberror {suberror}")
            })
        }
        VmExit::FailEntry { reason, .. } => end(format!("{name} ({reason:#x})")),
        VmExit::SystemEvent { kind } => end(format!("{name} {kind}")),
        VmExit::Malformed { why, .. } => {
            Next::Ended(Ended::Error(format!("malformed {name}: {why}")))
        }
        VmExit::Other(_) => end(name.into()),
    }
}
