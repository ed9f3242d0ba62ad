//! `--host-check`: what can this host's KVM do? Tiny probe guests find out, and a table says
//! what each answer means for guests.
//!
//! KVM is not one thing: on Intel VMX and AMD SVM it runs guests on the hardware; nested,
//! paravirtual (like this project's machines, ../shared/seed/kvm-on-this-machine.md) or
//! emulating KVMs run most guest code through KVM's instruction emulator, which has gaps. A
//! guest that hits one only gets "emulation failure". Each check below builds a small VM with
//! the kvm layer (its own memory, one vCPU), runs one probe from `guests/probes/` under a
//! watchdog, and reports. Probes speak the hypercall ABI: EXIT_STATUS with a code, plus `out`
//! to marker ports whose exits the host timestamps.

mod probe;

use crate::boot::Plan;
use crate::kvm::bindings::*;
use crate::kvm::{install_kick_signal_handler, Kvm, VmExit};
use crate::x86::{CR0_ET, CR0_PE, CR0_PG};
use probe::{probe_vcpu, run_probe, Ended};
use std::time::{Duration, Instant};

/// One row of the table.
struct Row {
    what: &'static str,
    /// Some(true) works, Some(false) does not, None: information only.
    ok: Option<bool>,
    result: String,
    meaning: String,
    /// mini-kvm's own guests need this row to pass.
    required: bool,
}

fn row(what: &'static str, ok: Option<bool>, result: String, meaning: &str, required: bool) -> Row {
    Row {
        what,
        ok,
        result,
        meaning: meaning.to_string(),
        required,
    }
}

fn describe(ended: &Ended) -> String {
    match ended {
        Ended::Status(s) => format!("status {s:#x}"),
        Ended::Exit(what) => what.clone(),
        Ended::Timeout => "no answer (stopped by the watchdog)".into(),
        Ended::Error(e) => e.clone(),
    }
}

const LIMIT: Duration = Duration::from_secs(2);

/// Real mode, and the cost of one port-I/O exit from 1,000 of them.
fn real_mode(kvm: &Kvm) -> (Row, Option<f64>) {
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
    let ok = ended == Ended::Status(0x42);
    let cost = (times.len() > 100).then(|| {
        (times[times.len() - 1] - times[0]).as_secs_f64() * 1e6 / (times.len() - 1) as f64
    });
    let result = if ok {
        "yes".into()
    } else {
        format!("no: {}", describe(&ended))
    };
    let r = row(
        "real mode",
        Some(ok),
        result,
        "the seed's flat 16-bit guests run",
        true,
    );
    (r, cost)
}

fn simple(
    kvm: &Kvm,
    probe: &str,
    plan: Plan,
    status: u8,
    what: &'static str,
    meaning: &str,
) -> Row {
    let ended = match probe_vcpu(kvm, probe, &plan, false) {
        Ok(mut vcpu) => run_probe(&mut vcpu, LIMIT, |_, _| None),
        Err(e) => Ended::Error(e),
    };
    let ok = ended == Ended::Status(status);
    let result = if ok {
        "yes".into()
    } else {
        format!("no: {}", describe(&ended))
    };
    row(what, Some(ok), result, meaning, true)
}

/// 32-bit paging without PAE, set through KVM_SET_SREGS and read back.
fn paging32(kvm: &Kvm) -> Row {
    let check = || -> Result<u64, String> {
        let vcpu = probe_vcpu(kvm, "real", &Plan::Real, false)?;
        let mut sregs = vcpu.get_sregs().map_err(|e| e.to_string())?;
        crate::boot::paging32::set_sregs(&mut sregs);
        vcpu.set_sregs(&sregs).map_err(|e| e.to_string())?;
        Ok(vcpu.get_sregs().map_err(|e| e.to_string())?.cr0)
    };
    let wanted = CR0_PG | CR0_ET | CR0_PE;
    match check() {
        Ok(cr0) if cr0 & CR0_PG != 0 => row(
            "32-bit paging",
            Some(true),
            "yes".into(),
            "the seed's --paging kernels can run",
            false,
        ),
        Ok(cr0) => row(
            "32-bit paging",
            Some(false),
            format!("no: CR0 {wanted:#x} read back as {cr0:#x} (PG dropped)"),
            "--paging refuses with status 4; the 1K OS is 64-bit and unaffected",
            false,
        ),
        Err(e) => row(
            "32-bit paging",
            Some(false),
            format!("no: {e}"),
            "--paging cannot run",
            false,
        ),
    }
}

/// In-kernel PIC + PIT: 10 ticks at 100 Hz should take about 100 ms.
fn interrupts(kvm: &Kvm) -> Row {
    let started = Instant::now();
    let ended = match probe_vcpu(kvm, "irq", &Plan::Long, true) {
        Ok(mut vcpu) => run_probe(&mut vcpu, LIMIT, |_, _| None),
        Err(e) => Ended::Error(e),
    };
    let ms = started.elapsed().as_secs_f64() * 1e3;
    let ok = ended == Ended::Status(10);
    let result = if ok {
        format!("yes: 10 ticks in {ms:.0} ms (100 expected)")
    } else {
        format!("no: {}", describe(&ended))
    };
    row(
        "in-kernel irqchip + PIT",
        Some(ok),
        result,
        "the 1K OS gets its 100 Hz timer and COM1 interrupts",
        true,
    )
}

/// Ring 3: `int 0x80` delivery, and native or emulated user code.
fn ring3(kvm: &Kvm) -> (Row, Row, Option<Row>) {
    let mut marks: [Option<Instant>; 4] = [None; 4];
    let ended = match probe_vcpu(kvm, "ring3", &Plan::Long, false) {
        Ok(mut vcpu) => run_probe(&mut vcpu, Duration::from_secs(5), |exit, at| {
            if let VmExit::IoOut { port, .. } = exit {
                if (0x80..=0x83).contains(port) {
                    marks[usize::from(*port - 0x80)] = Some(at);
                }
            }
            None
        }),
        Err(e) => Ended::Error(e),
    };
    let int_row = match ended {
        Ended::Status(0x80) => row(
            "int n from ring 3",
            Some(true),
            "delivered through the IDT gate".into(),
            "system calls by int 0x80 work as on hardware",
            true,
        ),
        Ended::Status(6) => row(
            "int n from ring 3",
            Some(true),
            "arrives as #UD at the int instruction".into(),
            "the 1K OS's #UD handler recognises CD 80 and runs the system call",
            true,
        ),
        ref other => row(
            "int n from ring 3",
            Some(false),
            format!("no: {}", describe(other)),
            "ring-3 programs cannot make system calls",
            true,
        ),
    };
    let per_iteration = |from: Option<Instant>, to: Option<Instant>, n: f64| {
        Some((to? - from?).as_secs_f64() * 1e9 / n)
    };
    let ring3_ns = per_iteration(marks[0], marks[1], 100_000.0);
    let ring0_ns = per_iteration(marks[2], marks[3], 10_000.0);
    let speed = match (ring3_ns, ring0_ns) {
        (Some(r3), Some(r0)) => {
            let kind = |ns: f64| if ns < 20.0 { "native" } else { "emulated" };
            let meaning = if r3 < 20.0 && r0 >= 20.0 {
                "user programs run fast; kernel code and single-steps are slow (~1 us/instruction)"
            } else if r3 < 20.0 {
                "guest code runs on the hardware"
            } else {
                "every guest instruction is emulated: expect slow guests"
            };
            row(
                "ring-3 and ring-0 code",
                None,
                format!(
                    "ring 3 {} ({r3:.1} ns/loop), ring 0 {} ({r0:.1} ns/loop)",
                    kind(r3),
                    kind(r0)
                ),
                meaning,
                false,
            )
        }
        _ => row(
            "ring-3 and ring-0 code",
            None,
            "not measured (the ring-3 probe failed)".into(),
            "",
            false,
        ),
    };
    let steps_in_ring3 = ring3_ns.filter(|&ns| ns < 20.0).map(|_| {
        row(
            "single-step in ring 3",
            None,
            "no exits from native ring-3 code".into(),
            "gdb cannot step or break inside user programs here",
            false,
        )
    });
    (int_row, speed, steps_in_ring3)
}

/// KVM_GUESTDBG_SINGLESTEP on a real-mode probe: one KVM_EXIT_DEBUG per instruction?
fn single_step(kvm: &Kvm) -> Row {
    let mut pcs = Vec::new();
    let result = probe_vcpu(kvm, "steps", &Plan::Real, false).and_then(|mut vcpu| {
        vcpu.set_guest_debug(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP)
            .map_err(|e| e.to_string())?;
        let ended = run_probe(&mut vcpu, LIMIT, |exit, _| {
            if let VmExit::Debug { exception: 1, pc } = exit {
                pcs.push(*pc);
            }
            None
        });
        Ok(ended)
    });
    let distinct = pcs.windows(2).filter(|w| w[0] != w[1]).count();
    match result {
        Ok(_) if pcs.len() >= 5 && distinct >= 4 => row(
            "single-step",
            Some(true),
            format!(
                "yes: KVM_EXIT_DEBUG per instruction (pc {:#x}, {:#x}, ...)",
                pcs[0], pcs[1]
            ),
            "gdb stepi works (--gdb)",
            false,
        ),
        Ok(ended) => row(
            "single-step",
            Some(false),
            format!("no: {} debug exits, then {}", pcs.len(), describe(&ended)),
            "gdb cannot step",
            false,
        ),
        Err(e) => row(
            "single-step",
            Some(false),
            format!("no: {e}"),
            "gdb cannot step",
            false,
        ),
    }
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

fn breakpoints(kvm: &Kvm) -> Row {
    match software_breakpoints_work(kvm) {
        Ok(true) => row(
            "software breakpoints",
            Some(true),
            "yes: int3 reaches the debugger".into(),
            "gdb breakpoints patch int3",
            false,
        ),
        Ok(false) => row(
            "software breakpoints",
            Some(false),
            "no: int3 is not reported (emulation failure)".into(),
            "gdb breakpoints single-step instead (slower, not in native ring 3)",
            false,
        ),
        Err(e) => row(
            "software breakpoints",
            Some(false),
            format!("no: {e}"),
            "",
            false,
        ),
    }
}

fn capabilities(kvm: &Kvm) -> Vec<Row> {
    let cap = |c| kvm.check_extension(c).unwrap_or(0);
    let sync = cap(KVM_CAP_SYNC_REGS);
    vec![
        row(
            "KVM_CAP_SYNC_REGS",
            Some(sync > 0),
            if sync > 0 {
                format!("yes ({sync:#x})")
            } else {
                "no".into()
            },
            "hypercalls read AL/BL without an extra ioctl",
            false,
        ),
        row(
            "KVM_CAP_IMMEDIATE_EXIT",
            Some(cap(KVM_CAP_IMMEDIATE_EXIT) > 0),
            if cap(KVM_CAP_IMMEDIATE_EXIT) > 0 {
                "yes".into()
            } else {
                "no".into()
            },
            "vCPUs stop without races (--timeout, Ctrl-A x)",
            true,
        ),
        row(
            "vCPUs",
            None,
            format!(
                "{} recommended, {} at most; {} hardware breakpoints",
                cap(KVM_CAP_NR_VCPUS),
                cap(KVM_CAP_MAX_VCPUS),
                cap(KVM_CAP_GUEST_DEBUG_HW_BPS)
            ),
            "mini-kvm runs up to 4",
            false,
        ),
    ]
}

fn mark(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "ok",
        Some(false) => "--",
        None => "  ",
    }
}

/// The table, one line per row, columns aligned.
fn table(rows: &[Row]) -> String {
    let w1 = rows.iter().map(|r| r.what.len()).max().unwrap_or(0);
    let w2 = rows.iter().map(|r| r.result.len()).max().unwrap_or(0);
    let mut out = String::new();
    for r in rows {
        let line = format!(
            "{} {:<w1$}  {:<w2$}  {}",
            mark(r.ok),
            r.what,
            r.result,
            r.meaning
        );
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// Runs every check, prints the table on stdout; 0 when mini-kvm's own guests can all run.
pub fn run(_verbose: bool) -> i32 {
    let kvm = match crate::machine::open_kvm(false) {
        Ok(kvm) => kvm,
        Err(e) => {
            diag!("mini-kvm: error: {e}");
            return e.exit_status();
        }
    };
    if let Err(e) = install_kick_signal_handler() {
        diag!("mini-kvm: error: installing the vCPU kick signal: {e}");
        return crate::error::status::HOST_FAILURE;
    }
    let (real, exit_cost) = real_mode(&kvm);
    let mut rows = vec![
        real,
        simple(
            &kvm,
            "pmode",
            Plan::Real,
            0x32,
            "32-bit protected mode",
            "Multiboot kernels start here (paging off)",
        ),
        paging32(&kvm),
        simple(
            &kvm,
            "long",
            Plan::Long,
            0x64,
            "long mode",
            "--long-mode guests and the 1K OS run",
        ),
        interrupts(&kvm),
    ];
    let (int_row, speed, ring3_steps) = ring3(&kvm);
    rows.push(int_row);
    rows.push(speed);
    rows.push(single_step(&kvm));
    rows.extend(ring3_steps);
    rows.push(breakpoints(&kvm));
    rows.extend(capabilities(&kvm));
    rows.push(row(
        "exit cost",
        None,
        exit_cost.map_or("not measured".into(), |us| {
            format!("{us:.1} us per port-I/O exit")
        }),
        "each guest `out` costs this round trip",
        false,
    ));
    let version = kvm.api_version().unwrap_or(0);
    let mut text =
        format!("mini-kvm --host-check: what this host's KVM can do (API version {version})\n\n");
    text.push_str(&table(&rows));
    let missing: Vec<&str> = rows
        .iter()
        .filter(|r| r.required && r.ok != Some(true))
        .map(|r| r.what)
        .collect();
    if missing.is_empty() {
        text.push_str("\nmini-kvm's guests: all of them can run here.\n");
    } else {
        text.push_str(&format!(
            "\nmini-kvm's guests: some cannot run here (missing: {}).\n",
            missing.join(", ")
        ));
    }
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        diag!("mini-kvm: error: writing the --host-check table to stdout failed: {e}");
        return crate::error::status::HOST_FAILURE;
    }
    if missing.is_empty() {
        0
    } else {
        crate::error::status::HOST_FAILURE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_aligns_and_marks_rows() {
        let rows = vec![
            row("real mode", Some(true), "yes".into(), "runs", true),
            row(
                "32-bit paging",
                Some(false),
                "no: dropped".into(),
                "refused",
                false,
            ),
            row("exit cost", None, "6.0 us".into(), "", false),
        ];
        let t = table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "ok real mode      yes          runs");
        assert_eq!(lines[1], "-- 32-bit paging  no: dropped  refused");
        assert_eq!(lines[2], "   exit cost      6.0 us");
    }

    #[test]
    fn outcomes_are_described() {
        assert_eq!(describe(&Ended::Status(0x42)), "status 0x42");
        assert_eq!(
            describe(&Ended::Timeout),
            "no answer (stopped by the watchdog)"
        );
    }
}
