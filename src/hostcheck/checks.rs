//! The individual checks: each runs one probe guest from `guests/probes/` in a VM of its own
//! (probe.rs) and turns how it ended into a typed finding. No words here: report.rs and
//! keys.rs explain them. The debugging checks use KVM_SET_GUEST_DEBUG (api.rst 4.59); the
//! paging check KVM_SET_SREGS and KVM_GET_SREGS (4.13, 4.14); the triple fault is
//! KVM_EXIT_SHUTDOWN (section 5) and the reset state Intel SDM Vol. 3A 9.1.1.

use super::probe::{probe_vcpu, run_probe, Outcome};
use super::{IntRing3, IoRipRule, Paging32, SingleStep, Works};
use crate::kvm::debug::*;
use crate::kvm::{Exit, Kvm};
use crate::x86::{CR0_ET, CR0_PE, CR0_PG};
use std::time::{Duration, Instant};

/// The ring3 probe marks its rounds with `out` to these ports (no device claims them): 0x82
/// around ring-0 rounds, 0x80 on entering ring 3 and 0x81 after each ring-3 round.
const MARK_RING0: u16 = 0x82;
const MARK_RING3_START: u16 = 0x80;
const MARK_RING3_ROUND: u16 = 0x81;

/// How long a probe may take: each needs a few ms, even where KVM emulates it.
pub(super) const LIMIT: Duration = Duration::from_secs(2);

/// How a probe ended, for a finding's "no: ...".
pub(super) fn describe(outcome: &Outcome) -> String {
    match outcome {
        Ok(status) => format!("status {status:#x}"),
        Err(what) => what.clone(),
    }
}

/// Yes when the probe ended with EXIT_STATUS `status`.
fn works(outcome: &Outcome, status: u8) -> Works {
    match *outcome == Ok(status) {
        true => Works::Yes,
        false => Works::No(describe(outcome)),
    }
}

/// Runs probe `name` (in long mode if `long`) to its end; Yes when it ends with `status`.
pub(super) fn simple(kvm: &Kvm, name: &str, long: bool, status: u8) -> Works {
    let outcome = probe_vcpu(kvm, name, long, false)
        .and_then(|mut vcpu| run_probe(&mut vcpu, LIMIT, |_, _| None));
    works(&outcome, status)
}

/// Real mode, and the cost of one port-I/O exit (in µs) from 1,000 of them.
pub(super) fn real_mode(kvm: &Kvm) -> (Works, Option<f64>) {
    let mut times = Vec::with_capacity(1000);
    let outcome = probe_vcpu(kvm, "real", false, false).and_then(|mut vcpu| {
        run_probe(&mut vcpu, LIMIT, |_, exit| {
            if let Exit::Io { out: true, port: 0x80, .. } = exit {
                times.push(Instant::now());
            }
            None
        })
    });
    let cost = (times.len() > 100).then(|| {
        (times[times.len() - 1] - times[0]).as_secs_f64() * 1e6 / (times.len() - 1) as f64
    });
    (works(&outcome, 0x42), cost)
}

/// 32-bit paging without PAE, set through KVM_SET_SREGS and read back (in the VM of a
/// long-mode probe, whose 4 MiB slot holds boot/paging32.rs's page directory address).
pub(super) fn paging32(kvm: &Kvm) -> Paging32 {
    let check = || -> Result<u64, String> {
        let vcpu = probe_vcpu(kvm, "long", true, false)?;
        let mut sregs = vcpu.get_sregs().map_err(|e| e.to_string())?;
        crate::boot::paging32::set_sregs(&mut sregs);
        vcpu.set_sregs(&sregs).map_err(|e| e.to_string())?;
        Ok(vcpu.get_sregs().map_err(|e| e.to_string())?.cr0)
    };
    match check() {
        Ok(cr0) if cr0 & CR0_PG != 0 => Paging32::Works,
        Ok(cr0) => Paging32::PgDropped { wanted: CR0_PG | CR0_ET | CR0_PE, read_back: cr0 },
        Err(e) => Paging32::Failed(e),
    }
}

/// In-kernel PIC + PIT: 10 ticks at 100 Hz, and how long they took (with the VM's setup) in ms.
pub(super) fn interrupts(kvm: &Kvm) -> (Works, f64) {
    let started = Instant::now();
    let outcome = probe_vcpu(kvm, "irq", true, true)
        .and_then(|mut vcpu| run_probe(&mut vcpu, LIMIT, |_, _| None));
    (works(&outcome, 10), started.elapsed().as_secs_f64() * 1e3)
}

/// Ring 3: how `int 0x80` arrives, and ns per loop iteration in ring 3 and ring 0: the
/// fastest of the probe's rounds, so that a round in which this thread was preempted (a busy
/// host) does not make native code look emulated.
pub(super) fn ring3(kvm: &Kvm) -> (IntRing3, Option<f64>, Option<f64>) {
    const RING0_LOOPS: f64 = 10_000.0;
    const RING3_LOOPS: f64 = 100_000.0;
    let (mut ring0_marks, mut ring3_marks) = (Vec::new(), Vec::new());
    let outcome = probe_vcpu(kvm, "ring3", true, false).and_then(|mut vcpu| {
        run_probe(&mut vcpu, Duration::from_secs(20), |_, exit| {
            match exit {
                Exit::Io { port: MARK_RING0, .. } => ring0_marks.push(Instant::now()),
                Exit::Io { port: MARK_RING3_START | MARK_RING3_ROUND, .. } => {
                    ring3_marks.push(Instant::now())
                }
                _ => {}
            }
            None
        })
    });
    // The handlers end with the vector they ran in: 0x80 (the gate) or 6 (#UD).
    let int = match outcome {
        Ok(0x80) => IntRing3::ThroughIdt,
        Ok(6) => IntRing3::UdAtInt,
        ref other => IntRing3::Fails(describe(other)),
    };
    let fastest = |marks: &[Instant], loops: f64| {
        let rounds = marks.windows(2).map(|w| (w[1] - w[0]).as_secs_f64() * 1e9 / loops);
        rounds.min_by(f64::total_cmp)
    };
    (int, fastest(&ring3_marks, RING3_LOOPS), fastest(&ring0_marks, RING0_LOOPS))
}

/// KVM_GUESTDBG_SINGLESTEP on a real-mode probe: one KVM_EXIT_DEBUG per instruction?
pub(super) fn single_step(kvm: &Kvm) -> SingleStep {
    let control = KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
    let vcpu = probe_vcpu(kvm, "steps", false, false).and_then(|vcpu| {
        vcpu.set_guest_debug(control, [0; 8]).map_err(|e| e.to_string())?;
        Ok(vcpu)
    });
    let mut vcpu = match vcpu {
        Ok(vcpu) => vcpu,
        Err(e) => return SingleStep::Fails(e),
    };
    let mut pcs = Vec::new();
    let outcome = run_probe(&mut vcpu, LIMIT, |_, exit| {
        if let Exit::Debug { exception: 1, pc } = *exit {
            pcs.push(pc);
        }
        None
    });
    match pcs.windows(2).filter(|w| w[0] != w[1]).count() {
        4.. if pcs.len() >= 5 => SingleStep::Works { first_pcs: (pcs[0], pcs[1]) },
        _ => SingleStep::Fails(format!("{} debug exits, then {}", pcs.len(), describe(&outcome))),
    }
}

/// DR0 set on the second instruction the "steps" probe single-steps to, with
/// KVM_GUESTDBG_USE_HW_BP: does KVM exit with KVM_EXIT_DEBUG (#DB, exception 1) right there?
/// (x86 KVM offers four debug registers to a debugger but reports no count:
/// KVM_CAP_GUEST_DEBUG_HW_BPS is for other architectures, so only a probe can tell.)
pub(super) fn hardware_breakpoints_work(kvm: &Kvm) -> bool {
    let SingleStep::Works { first_pcs: (_, target) } = single_step(kvm) else { return false };
    let Ok(mut vcpu) = probe_vcpu(kvm, "steps", false, false) else { return false };
    // DR0 = the address; DR7.L0 on, R/W0 = LEN0 = 00: break on executing it (SDM Vol. 3B 18.2).
    let debugreg = [target, 0, 0, 0, 0, 0, 0, 1];
    if vcpu.set_guest_debug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP, debugreg).is_err() {
        return false;
    }
    let outcome = run_probe(&mut vcpu, LIMIT, |_, exit| match *exit {
        Exit::Debug { exception: 1, pc } if pc == target => Some(Ok(1)),
        Exit::Debug { .. } => Some(Ok(2)),
        _ => None,
    });
    outcome == Ok(1)
}

/// `int3` with KVM_GUESTDBG_USE_SW_BP in 64-bit ring 0: does the debugger get it? (`--gdb`
/// patches `int3` where it does, and single-steps to its breakpoints where it does not.)
pub fn software_breakpoints_work(kvm: &Kvm) -> Result<bool, String> {
    let mut vcpu = probe_vcpu(kvm, "breakpoint", true, false)?;
    vcpu.set_guest_debug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP, [0; 8])
        .map_err(|e| e.to_string())?;
    let outcome = run_probe(&mut vcpu, LIMIT, |_, exit| match exit {
        Exit::Debug { exception: 3, .. } => Some(Ok(3)),
        _ => None,
    });
    Ok(outcome == Ok(3))
}

/// Where RIP points at the `out` and the `in` exits of the io_rip probe (see its source).
pub(super) fn io_rip(kvm: &Kvm) -> Result<IoRipRule, String> {
    const OUT_AT: u64 = 0;
    const IN_AT: u64 = 2;
    const LEN: u64 = 2;
    let (mut out_after, mut in_after) = (None, None);
    let outcome = probe_vcpu(kvm, "io_rip", false, false).and_then(|mut vcpu| {
        run_probe(&mut vcpu, LIMIT, |vcpu, exit| {
            let Exit::Io { out, port: 0x80, .. } = *exit else { return None };
            match vcpu.get_regs() {
                Ok(regs) if out => out_after = Some(regs.rip == OUT_AT + LEN),
                Ok(regs) => in_after = Some(regs.rip == IN_AT + LEN),
                Err(e) => return Some(Err(e.to_string())),
            }
            None
        })
    });
    match (outcome, out_after, in_after) {
        (Ok(0x10), Some(out_after), Some(in_after)) => Ok(IoRipRule { out_after, in_after }),
        (Err(e), ..) => Err(e),
        _ => Err("the probe did not reach both exits".into()),
    }
}

/// After KVM_EXIT_SHUTDOWN, does the vCPU still hold the faulting state (true), or has KVM
/// reset it (false)? The shutdown probe faults at `FAULT_AT`.
pub(super) fn shutdown_regs_kept(kvm: &Kvm) -> Result<bool, String> {
    const FAULT_AT: u64 = 0x20;
    let mut vcpu = probe_vcpu(kvm, "shutdown", false, false)?;
    let outcome = run_probe(&mut vcpu, LIMIT, |_, exit| (*exit == Exit::Shutdown).then_some(Ok(0)));
    if outcome != Ok(0) {
        return Err(describe(&outcome));
    }
    let regs = vcpu.get_regs().map_err(|e| e.to_string())?;
    let sregs = vcpu.get_sregs().map_err(|e| e.to_string())?;
    match (regs.rip == FAULT_AT, crate::fault::is_reset_state(&regs, &sregs)) {
        (true, _) => Ok(true),
        (false, true) => Ok(false),
        _ => Err(format!("RIP {:#x} afterwards", regs.rip)),
    }
}
