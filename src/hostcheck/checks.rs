//! The individual checks: each runs one probe guest from `guests/probes/` in a VM of its own
//! and turns how it ended into a typed finding. No words here: `report.rs` explains them.

use super::probe::{probe_vcpu, run_probe, Ended};
use super::{IntRing3, IoRip, Paging32, SingleStep, Works};
use crate::boot::Plan;
use crate::devices::hypercall::HYPERCALL_PORT;
use crate::kvm::bindings::*;
use crate::kvm::{Kvm, VmExit};
use crate::x86::{CR0_ET, CR0_PE, CR0_PG};
use std::time::{Duration, Instant};

/// The ring3 probe marks its rounds with `out` to these ports (no device claims them): 0x82
/// around ring-0 rounds, 0x80 on entering ring 3 and 0x81 after each ring-3 round.
const MARK_RING0: u16 = 0x82;
const MARK_RING3_START: u16 = 0x80;
const MARK_RING3_ROUND: u16 = 0x81;

const LIMIT: Duration = Duration::from_secs(2);

pub(super) fn describe(ended: &Ended) -> String {
    match ended {
        Ended::Status(s) => format!("status {s:#x}"),
        Ended::Exit(what) => what.clone(),
        Ended::Timeout => "no answer (stopped by the watchdog)".into(),
        Ended::Error(e) => e.clone(),
    }
}

/// Runs probe `name` to its end; Yes when it ends with EXIT_STATUS `status`.
pub(super) fn simple(kvm: &Kvm, name: &str, plan: Plan, status: u8) -> Works {
    let ended = match probe_vcpu(kvm, name, &plan, false) {
        Ok(mut vcpu) => run_probe(&mut vcpu, LIMIT, |_, _| None),
        Err(e) => Ended::Error(e),
    };
    if ended == Ended::Status(status) {
        Works::Yes
    } else {
        Works::No(describe(&ended))
    }
}

/// Real mode, and the cost of one port-I/O exit (in µs) from 1,000 of them.
pub(super) fn real_mode(kvm: &Kvm) -> (Works, Option<f64>) {
    let mut times = Vec::with_capacity(1000);
    let ended = match probe_vcpu(kvm, "real", &Plan::Real, false) {
        Ok(mut vcpu) => run_probe(&mut vcpu, LIMIT, |exit, at| {
            if let VmExit::IoOut { port: 0x80, .. } = exit {
                times.push(at);
            }
            None
        }),
        Err(e) => Ended::Error(e),
    };
    let cost = (times.len() > 100).then(|| {
        (times[times.len() - 1] - times[0]).as_secs_f64() * 1e6 / (times.len() - 1) as f64
    });
    let works = if ended == Ended::Status(0x42) {
        Works::Yes
    } else {
        Works::No(describe(&ended))
    };
    (works, cost)
}

/// 32-bit paging without PAE, set through KVM_SET_SREGS and read back.
pub(super) fn paging32(kvm: &Kvm) -> Paging32 {
    let check = || -> Result<u64, String> {
        let vcpu = probe_vcpu(kvm, "real", &Plan::Real, false)?;
        let mut sregs = vcpu.get_sregs().map_err(|e| e.to_string())?;
        crate::boot::paging32::set_sregs(&mut sregs);
        vcpu.set_sregs(&sregs).map_err(|e| e.to_string())?;
        Ok(vcpu.get_sregs().map_err(|e| e.to_string())?.cr0)
    };
    match check() {
        Ok(cr0) if cr0 & CR0_PG != 0 => Paging32::Works,
        Ok(cr0) => Paging32::PgDropped {
            wanted: CR0_PG | CR0_ET | CR0_PE,
            read_back: cr0,
        },
        Err(e) => Paging32::Failed(e),
    }
}

/// In-kernel PIC + PIT: 10 ticks at 100 Hz, and how long they took in ms.
pub(super) fn interrupts(kvm: &Kvm) -> (Works, f64) {
    let started = Instant::now();
    let ended = match probe_vcpu(kvm, "irq", &Plan::Long, true) {
        Ok(mut vcpu) => run_probe(&mut vcpu, LIMIT, |_, _| None),
        Err(e) => Ended::Error(e),
    };
    let ms = started.elapsed().as_secs_f64() * 1e3;
    if ended == Ended::Status(10) {
        (Works::Yes, ms)
    } else {
        (Works::No(describe(&ended)), ms)
    }
}

/// Ring 3: how `int 0x80` arrives, and ns per loop iteration in ring 3 and ring 0: the
/// fastest of the probe's rounds, so that a round in which this thread was preempted (a busy
/// host) does not make native code look emulated.
pub(super) fn ring3(kvm: &Kvm) -> (IntRing3, Option<f64>, Option<f64>) {
    const RING0_LOOPS: f64 = 10_000.0;
    const RING3_LOOPS: f64 = 100_000.0;
    let mut ring0_marks = Vec::new();
    let mut ring3_marks = Vec::new();
    let ended = match probe_vcpu(kvm, "ring3", &Plan::Long, false) {
        Ok(mut vcpu) => run_probe(&mut vcpu, Duration::from_secs(20), |exit, at| {
            match exit {
                VmExit::IoOut {
                    port: MARK_RING0, ..
                } => ring0_marks.push(at),
                VmExit::IoOut {
                    port: MARK_RING3_START | MARK_RING3_ROUND,
                    ..
                } => ring3_marks.push(at),
                _ => {}
            }
            None
        }),
        Err(e) => Ended::Error(e),
    };
    // The handlers end with the vector they ran in: 0x80 (the gate) or 6 (#UD).
    let int = match ended {
        Ended::Status(0x80) => IntRing3::ThroughIdt,
        Ended::Status(6) => IntRing3::UdAtInt,
        ref other => IntRing3::Fails(describe(other)),
    };
    let fastest = |marks: &[Instant], loops: f64| {
        marks
            .windows(2)
            .map(|w| (w[1] - w[0]).as_secs_f64() * 1e9 / loops)
            .min_by(f64::total_cmp)
    };
    (
        int,
        fastest(&ring3_marks, RING3_LOOPS),
        fastest(&ring0_marks, RING0_LOOPS),
    )
}

/// KVM_GUESTDBG_SINGLESTEP on a real-mode probe: one KVM_EXIT_DEBUG per instruction?
pub(super) fn single_step(kvm: &Kvm) -> SingleStep {
    let mut pcs = Vec::new();
    let result = probe_vcpu(kvm, "steps", &Plan::Real, false).and_then(|mut vcpu| {
        vcpu.set_guest_debug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP)
            .map_err(|e| e.to_string())?;
        Ok(run_probe(&mut vcpu, LIMIT, |exit, _| {
            if let VmExit::Debug { exception: 1, pc } = exit {
                pcs.push(*pc);
            }
            None
        }))
    });
    let distinct = pcs.windows(2).filter(|w| w[0] != w[1]).count();
    match result {
        Ok(_) if pcs.len() >= 5 && distinct >= 4 => SingleStep::Works {
            first_pcs: (pcs[0], pcs[1]),
        },
        Ok(ended) => SingleStep::Fails(format!(
            "{} debug exits, then {}",
            pcs.len(),
            describe(&ended)
        )),
        Err(e) => SingleStep::Fails(e),
    }
}

/// DR0 set on the third instruction of the real-mode "steps" probe, with
/// KVM_GUESTDBG_USE_HW_BP: does KVM exit with KVM_EXIT_DEBUG (#DB, exception 1) right there?
/// (x86 KVM offers four debug registers to a debugger but reports no count:
/// KVM_CAP_GUEST_DEBUG_HW_BPS is for other architectures, so only a probe can tell.)
pub fn hardware_breakpoints_work(kvm: &Kvm) -> bool {
    let SingleStep::Works { first_pcs } = single_step(kvm) else {
        return false;
    };
    let target = first_pcs.1;
    let Ok(mut vcpu) = probe_vcpu(kvm, "steps", &Plan::Real, false) else {
        return false;
    };
    let mut debugreg = [0u64; 8];
    debugreg[0] = target;
    debugreg[7] = 1; // L0: DR0 enabled, R/W0 = LEN0 = 00: instruction execution
    if vcpu
        .set_guest_debug_regs(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP, debugreg)
        .is_err()
    {
        return false;
    }
    let ended = run_probe(&mut vcpu, LIMIT, |exit, _| match exit {
        VmExit::Debug { exception: 1, pc } if *pc == target => Some(Ended::Status(1)),
        VmExit::Debug { .. } => Some(Ended::Status(2)),
        _ => None,
    });
    ended == Ended::Status(1)
}

/// `int3` with KVM_GUESTDBG_USE_SW_BP in 64-bit ring 0: does the debugger get it?
pub fn software_breakpoints_work(kvm: &Kvm) -> Result<bool, String> {
    let mut vcpu = probe_vcpu(kvm, "breakpoint", &Plan::Long, false)?;
    vcpu.set_guest_debug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP)
        .map_err(|e| e.to_string())?;
    let ended = run_probe(&mut vcpu, LIMIT, |exit, _| match exit {
        VmExit::Debug { exception: 3, .. } => Some(Ended::Status(3)),
        _ => None,
    });
    Ok(ended == Ended::Status(3))
}

/// Where RIP points at the `out` and the `in` exits of the io_rip probe (see its source).
pub(super) fn io_rip(kvm: &Kvm) -> Result<IoRip, String> {
    const OUT_AT: u64 = 0;
    const IN_AT: u64 = 2;
    const LEN: u64 = 2;
    let mut vcpu = probe_vcpu(kvm, "io_rip", &Plan::Real, false)?;
    let mut out_after = None;
    let mut in_after = None;
    for _ in 0..3 {
        let port = match vcpu.run().map_err(|e| e.to_string())? {
            VmExit::IoOut { port, .. } => (port, true),
            VmExit::IoIn { port, data, .. } => {
                data.fill(0xFF);
                (port, false)
            }
            other => return Err(format!("unexpected {other:?}")),
        };
        let rip = vcpu.get_regs().map_err(|e| e.to_string())?.rip;
        match port {
            (0x80, true) => out_after = Some(rip == OUT_AT + LEN),
            (0x80, false) => in_after = Some(rip == IN_AT + LEN),
            (HYPERCALL_PORT, true) => break,
            (p, _) => return Err(format!("unexpected port {p:#x}")),
        }
    }
    match (out_after, in_after) {
        (Some(out_after), Some(in_after)) => Ok(IoRip {
            out_after,
            in_after,
        }),
        _ => Err("the probe did not reach both exits".into()),
    }
}

/// After KVM_EXIT_SHUTDOWN, does the vCPU still hold the faulting state (true), or has KVM
/// reset it (false)? The shutdown probe faults at `FAULT_AT`.
pub(super) fn shutdown_regs_kept(kvm: &Kvm) -> Result<bool, String> {
    const FAULT_AT: u64 = 0x20;
    let mut vcpu = probe_vcpu(kvm, "shutdown", &Plan::Real, false)?;
    let ended = run_probe(&mut vcpu, LIMIT, |exit, _| match exit {
        VmExit::Shutdown => Some(Ended::Status(0)),
        _ => None,
    });
    if ended != Ended::Status(0) {
        return Err(describe(&ended));
    }
    let regs = vcpu.get_regs().map_err(|e| e.to_string())?;
    let sregs = vcpu.get_sregs().map_err(|e| e.to_string())?;
    if regs.rip == FAULT_AT {
        Ok(true)
    } else if crate::fault::is_reset_state(Some(&regs), Some(&sregs)) {
        Ok(false)
    } else {
        Err(format!("RIP {:#x} afterwards", regs.rip))
    }
}
