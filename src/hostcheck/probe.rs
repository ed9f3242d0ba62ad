//! Running one probe guest (`guests/probes/*.asm`): a one-vCPU VM of its own, built by the
//! machine's steps (machine.rs; api.rst section 3) with the probe's boot protocol
//! (boot/realmode.rs or boot/longmode.rs), then a KVM_RUN loop (api.rst 4.10, section 5)
//! under a watchdog thread that kicks the vCPU out of KVM_RUN (kvm/vcpu.rs, [`Kick`]) when the
//! probe takes too long.
//!
//! [`Kick`]: crate::kvm::Kick

use crate::boot::{longmode::LongMode, realmode::RealMode};
use crate::devices::hypercall::{HypercallPort, HYPERCALL_PORT};
use crate::devices::{Bus, Ended};
use crate::error::Ending;
use crate::guests::{Image, PROBES};
use crate::kvm::{install_kick_handler, Exit, Kvm, Vcpu};
use crate::machine::{Boot, Setup, TSS_ADDR};
use crate::memory::GuestMemory;
use crate::vcpu::{handle_exit, VcpuIo};
use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

/// How a probe run ended: `Ok` with its EXIT_STATUS, or `Err` with what happened instead, in
/// the words the host-check table shows.
pub type Outcome = Result<u8, String>;

/// A setup failure in words (without the "error: " a message to the user starts with).
fn words(e: impl Into<Ending>) -> String {
    match e.into() {
        Ending::Host(m) | Ending::NoKvm(m) => m,
        other => other.to_string(),
    }
}

/// The vCPU of a new VM that runs probe `name` from its first instruction: in 64-bit long mode
/// (`long`, boot/longmode.rs, which also sets CPUID) or else in real mode (boot/realmode.rs),
/// with the in-kernel PIC, IOAPIC and PIT if `irqchip` (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2).
pub fn probe_vcpu(kvm: &Kvm, name: &str, long: bool, irqchip: bool) -> Result<Vcpu, String> {
    let (_, bytes) =
        PROBES.iter().find(|(n, _)| *n == name).ok_or_else(|| format!("no probe {name}"))?;
    let image = Image { name: name.into(), path: None, bytes: Cow::Borrowed(*bytes) };
    let mut boot: Box<dyn Boot> = match long {
        true => Box::new(LongMode { images: vec![image] }),
        false => Box::new(RealMode::new(vec![image]).map_err(words)?),
    };
    build(kvm, &mut *boot, irqchip).map_err(words)
}

/// Steps 2 to 6 of machine.rs for one guest in one memory slot.
fn build(kvm: &Kvm, boot: &mut dyn Boot, irqchip: bool) -> Result<Vcpu, Ending> {
    let vm = Arc::new(kvm.create_vm()?);
    vm.set_tss_addr(TSS_ADDR)?;
    let layout = boot.layout();
    let memory = Arc::new(GuestMemory::new(layout.ram).map_err(|e| Ending::Host(e.to_string()))?);
    let (gpa, size) = layout.slots[0]; // every boot protocol gives one guest one slot at least
    vm.set_user_memory_region(0, &memory, gpa, size)?;
    let mut bus = Bus::new(&Ended);
    let mut setup = Setup { kvm, vm: &vm, memory: &memory, bus: &mut bus };
    boot.after_memory(&mut setup)?;
    if irqchip {
        // As boot/kernel.rs creates them for a kernel, without its -v note: a probe may run
        // in the middle of a run's setup (the disk's irqfd probe).
        vm.create_irqchip()?;
        vm.create_pit2(false)?;
    }
    boot.load(&memory)?;
    let mut vcpus = [vm.create_vcpu(0)?];
    boot.start(0, &vcpus[0])?;
    boot.after_vcpus(&mut setup, &mut vcpus)?;
    let [vcpu] = vcpus;
    Ok(vcpu)
}

/// Runs `vcpu` until the probe ends or `limit` passes. `on_exit` sees every exit first (the
/// vCPU's registers are readable then) and may end the run by returning `Some`.
pub fn run_probe(
    vcpu: &mut Vcpu,
    limit: Duration,
    mut on_exit: impl FnMut(&mut Vcpu, &Exit) -> Option<Outcome>,
) -> Outcome {
    install_kick_handler().map_err(|e| format!("installing the vCPU kick signal: {e}"))?;
    let kick = vcpu.kick_from_other_threads();
    let (done, wait) = channel::<()>();
    let fired = Arc::new(AtomicBool::new(false));
    let fire = Arc::clone(&fired);
    // The watchdog kicks this thread, which stays alive until the watchdog is joined below.
    let watchdog = std::thread::Builder::new().name("probe watchdog".into()).spawn(move || {
        if wait.recv_timeout(limit) == Err(RecvTimeoutError::Timeout) {
            fire.store(true, Ordering::SeqCst);
            kick.kick();
        }
    });
    let watchdog = watchdog.map_err(|e| format!("starting the probe's watchdog: {e}"))?;
    let (bus, hypercall) = (Arc::new(Bus::new(&Ended)), HypercallPort::default());
    let mut io = VcpuIo { bus, out: Vec::new(), input: &Ended, hypercall, claimed: false };
    let outcome = loop {
        let exit = match vcpu.run() {
            Ok(exit) => exit,
            Err(e) => break Err(e.to_string()),
        };
        if exit == Exit::Interrupted && !fired.load(Ordering::SeqCst) {
            continue; // EAGAIN: KVM took an INIT or STARTUP IPI for this vCPU; run it again
        }
        if let Some(outcome) = on_exit(vcpu, &exit).or_else(|| step(vcpu, &mut io, exit)) {
            break outcome;
        }
    };
    drop(done); // the watchdog wakes, with no kick
    let _ = watchdog.join();
    outcome
}

/// What the probe's machine does with one exit: port I/O and MMIO as the run loop handles them
/// ([`handle_exit`]: the hypercall port ends the probe with its status), nothing for single
/// steps (`on_exit` counts them), and anything else ends the probe.
fn step(vcpu: &mut Vcpu, io: &mut VcpuIo<Vec<u8>>, exit: Exit) -> Option<Outcome> {
    let regs = match exit {
        Exit::Io { out: true, port: HYPERCALL_PORT, .. } => match vcpu.regs_at_exit() {
            Ok(regs) => Some(regs),
            Err(e) => return Some(Err(e.to_string())),
        },
        Exit::Io { .. } | Exit::Mmio { .. } => None,
        Exit::Debug { .. } => return None,
        Exit::Interrupted => return Some(Err("no answer (stopped by the watchdog)".into())),
        other => return Some(Err(stopped_by(&other))),
    };
    match handle_exit(exit, vcpu.io_data(), regs, io) {
        Ok(answer) => {
            if let Some(answer) = answer {
                vcpu.set_mmio_data(answer);
            }
            None
        }
        Err(Ending::Exit(status)) => Some(Ok(status)),
        Err(Ending::Halted) => Some(Ok(0)),
        Err(other) => Some(Err(words(other))),
    }
}

/// An exit that ends a probe, by its `KVM_EXIT_*` name, in the table's words.
pub fn stopped_by(exit: &Exit) -> String {
    let name = exit.name();
    match *exit {
        Exit::Shutdown => format!("{name} (triple fault)"),
        // KVM_INTERNAL_ERROR_EMULATION (api.rst 5): an instruction KVM could not emulate.
        Exit::InternalError { suberror: 1, .. } => format!("emulation failure ({name})"),
        Exit::InternalError { suberror, .. } => format!("{name}, suberror {suberror}"),
        Exit::FailEntry { reason, .. } => format!("{name} ({reason:#x})"),
        Exit::SystemEvent { kind } => format!("{name} {kind}"),
        Exit::Malformed { why, .. } => format!("malformed {name}: {why}"),
        _ => name.into(),
    }
}
