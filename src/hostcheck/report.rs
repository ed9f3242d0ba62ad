//! The findings in words: the `--host-check` table, one row per finding, each saying what
//! the host does and what that means for mini-kvm's guests (docs/kvm-variants.md tells the
//! kinds of KVM apart by the same rows; api.rst describes what each row tests: 4.59
//! KVM_SET_GUEST_DEBUG, section 5 KVM_EXIT_IO and KVM_EXIT_SHUTDOWN, section 8 and 4.4 the
//! capabilities). Columns have fixed widths, so a measured number of another length never
//! moves the columns after it.

use super::{native, Findings, IntRing3, Paging32, SingleStep, Works};

/// One row of the table.
struct Row {
    what: &'static str,
    /// Some(true) works, Some(false) does not, None: information only.
    ok: Option<bool>,
    result: String,
    meaning: String,
}

fn row(what: &'static str, ok: Option<bool>, result: impl Into<String>, meaning: &str) -> Row {
    Row { what, ok, result: result.into(), meaning: meaning.to_string() }
}

fn works_row(what: &'static str, works: &Works, yes: &str, no: &str) -> Row {
    match works {
        Works::Yes => row(what, Some(true), "yes", yes),
        Works::No(why) => row(what, Some(false), format!("no: {why}"), no),
    }
}

/// A row that says yes or no, with the result text for each.
fn yes_no_row(what: &'static str, yes: bool, result: String, meaning: &str) -> Row {
    row(what, Some(yes), if yes { result } else { "no".into() }, meaning)
}

const WHAT_WIDTH: usize = 24;
const RESULT_WIDTH: usize = 50;

/// The whole report, ending with whether every guest can run.
pub(super) fn table(f: &Findings) -> String {
    let mut text = format!(
        "mini-kvm --host-check: what this host's KVM can do (API version {})\n\
         kind of KVM: {}\n\n",
        f.api_version,
        f.kind()
    );
    for r in rows(f) {
        let mark = match r.ok {
            Some(true) => "ok",
            Some(false) => "--",
            None => "  ",
        };
        let line =
            format!("{mark} {:<WHAT_WIDTH$}  {:<RESULT_WIDTH$}  {}", r.what, r.result, r.meaning);
        text.push_str(line.trim_end());
        text.push('\n');
    }
    let missing = f.missing();
    text.push_str(&match missing.is_empty() {
        true => "\nmini-kvm's guests: all of them can run here.\n".into(),
        false => format!(
            "\nmini-kvm's guests: some cannot run here (missing: {}).\n",
            missing.join(", ")
        ),
    });
    text
}

/// The table, top to bottom. The ring-3 single-step row appears only where stepping there
/// fails, since it explains that failure.
fn rows(f: &Findings) -> Vec<Row> {
    let mut rows = vec![
        works_row(
            "real mode",
            &f.real_mode,
            "the C VMM's flat 16-bit guests run",
            "no guest can run",
        ),
        works_row(
            "32-bit protected mode",
            &f.protected_mode,
            "Multiboot kernels start here (paging off)",
            "Multiboot kernels cannot start",
        ),
        paging32_row(f),
        works_row(
            "long mode",
            &f.long_mode,
            "--long-mode guests and the 1K OS run",
            "64-bit guests and the 1K OS cannot run",
        ),
        interrupts_row(f),
        linux_row(f),
        int_ring3_row(f),
        works_row(
            "int n in 32-bit ring 0",
            &f.int_pm32,
            "32-bit kernels can use software interrupts",
            "32-bit kernels cannot use int n",
        ),
        code_speed_row(f),
        single_step_row(f),
    ];
    if !f.steps_in_ring3() {
        rows.push(row(
            "single-step in ring 3",
            Some(false),
            "no exits from native ring-3 code",
            "gdb cannot step or break inside user programs here",
        ));
    }
    rows.extend([sw_breakpoints_row(f), io_rip_row(f), shutdown_state_row(f)]);
    let coalesced = f.coalesced_pio && f.coalesced_page > 0;
    rows.extend([
        yes_no_row(
            "KVM_CAP_SYNC_REGS",
            f.sync_regs > 0,
            format!("yes ({:#x})", f.sync_regs),
            "hypercalls read AL/BL without an extra ioctl",
        ),
        yes_no_row(
            "KVM_CAP_IMMEDIATE_EXIT",
            f.immediate_exit,
            "yes".into(),
            "vCPUs stop without races (--timeout, Ctrl-A x)",
        ),
        yes_no_row(
            "KVM_CAP_COALESCED_PIO",
            coalesced,
            format!("yes (ring at page {})", f.coalesced_page),
            match coalesced {
                true => "COM1 THR writes wait in KVM's ring, not one exit each",
                false => "every COM1 THR write is an exit",
            },
        ),
        works_row(
            "ioeventfd",
            &f.ioeventfd,
            "the disk's queue notifies wake its thread with no exit",
            "each disk queue notify is an MMIO exit",
        ),
        works_row(
            "irqfd delivery",
            &f.irqfd,
            "the disk's thread interrupts the guest with no ioctl",
            "the disk interrupts through KVM_IRQ_LINE",
        ),
        row(
            "vCPUs",
            None,
            format!("{} recommended, {} at most", f.nr_vcpus, f.max_vcpus),
            &format!("{} hardware breakpoints; mini-kvm runs up to 4 guests, or a kernel on up to 8 CPUs", f.hw_breakpoints),
        ),
        works_row(
            "start a second CPU",
            &f.ap_start,
            "INIT/SIPI from the boot CPU starts another: --cpus 2 to 8 work",
            "--cpus above 1 is refused (status 4)",
        ),
        seccomp_row(f),
        row(
            "exit cost",
            None,
            "one port-I/O exit round trip",
            &f.exit_cost_us.map_or("not measured".into(), |us| format!("{us:.1} us per exit")),
        ),
    ]);
    rows
}

/// 32-bit paging: some KVMs silently drop CR0.PG, which `--paging` must refuse.
fn paging32_row(f: &Findings) -> Row {
    let what = "32-bit paging";
    match &f.paging32 {
        Paging32::Works => row(what, Some(true), "yes", "the C VMM's --paging kernels can run"),
        Paging32::PgDropped { wanted, read_back } => row(
            what,
            Some(false),
            format!("no: CR0 {wanted:#x} read back {read_back:#x}"),
            "PG dropped: --paging refuses with status 4; the 1K OS is 64-bit",
        ),
        Paging32::Failed(e) => row(what, Some(false), format!("no: {e}"), "--paging cannot run"),
    }
}

/// The in-kernel irqchip and PIT, with the measured tick time: the 1K OS's timer.
fn interrupts_row(f: &Findings) -> Row {
    let what = "in-kernel irqchip + PIT";
    match &f.interrupts {
        Works::Yes => row(
            what,
            Some(true),
            "yes: 10 ticks at 100 Hz",
            &format!(
                "{:.0} ms for 10 ticks: the 1K OS gets its timer and COM1 interrupts",
                f.ten_ticks_ms
            ),
        ),
        Works::No(why) => row(what, Some(false), format!("no: {why}"), "the 1K OS gets no timer"),
    }
}

/// Whether `--linux` can boot here (decided by the kind of KVM) and where to go if not.
fn linux_row(f: &Findings) -> Row {
    let what = "Linux boot (--linux)";
    match f.linux_boots() {
        true => row(what, Some(true), "yes", "ordinary Linux kernels boot with --linux"),
        false => row(
            what,
            Some(false),
            "no: not on this kind of KVM",
            "--linux exits 4; boot Linux in the real-KVM lane (make test-real-kvm)",
        ),
    }
}

/// How `int n` from ring 3 arrives: the 1K OS's system calls depend on it.
fn int_ring3_row(f: &Findings) -> Row {
    let what = "int n from ring 3";
    match &f.int_ring3 {
        IntRing3::ThroughIdt => row(
            what,
            Some(true),
            "delivered through the IDT gate",
            "system calls by int 0x80 work as on hardware",
        ),
        IntRing3::UdAtInt => row(
            what,
            Some(true),
            "arrives as #UD at the int instruction",
            "the 1K OS's #UD handler recognises CD 80 and runs the system call",
        ),
        IntRing3::Fails(why) => {
            row(what, Some(false), format!("no: {why}"), "ring-3 programs cannot make system calls")
        }
    }
}

/// Whether ring-3 and ring-0 code run natively or emulated, from the measured loop times:
/// it explains why guests, and gdb's single-steps, are fast or slow.
fn code_speed_row(f: &Findings) -> Row {
    let kind = |native: Option<bool>| match native {
        Some(true) => "native",
        Some(false) => "emulated",
        None => "not measured",
    };
    let (r3, r0) = (native(f.ring3_ns), native(f.ring0_ns));
    let meaning = match (r3, r0) {
        (Some(true), Some(false)) => {
            "user programs run fast; kernel code and single-steps are slow"
        }
        (Some(true), _) => "guest code runs on the hardware",
        _ => "guest code is emulated: expect slow guests",
    };
    row(
        "ring-3 and ring-0 code",
        None,
        format!("ring 3 {}, ring 0 {}", kind(r3), kind(r0)),
        &format!(
            "{:.1} / {:.1} ns per loop: {meaning}",
            f.ring3_ns.unwrap_or(0.0),
            f.ring0_ns.unwrap_or(0.0),
        ),
    )
}

/// Single-stepping (KVM_GUESTDBG_SINGLESTEP), which gdb's `stepi` needs.
fn single_step_row(f: &Findings) -> Row {
    match &f.single_step {
        SingleStep::Works { first_pcs: (a, b) } => row(
            "single-step",
            Some(true),
            "yes: a KVM_EXIT_DEBUG per instruction",
            &format!("pc {a:#x}, {b:#x}, ...: gdb stepi works (--gdb)"),
        ),
        SingleStep::Fails(why) => {
            row("single-step", Some(false), format!("no: {why}"), "gdb cannot step")
        }
    }
}

/// Whether `int3` reaches the debugger, which decides how gdb breakpoints are made.
fn sw_breakpoints_row(f: &Findings) -> Row {
    let what = "software breakpoints";
    match &f.sw_breakpoints {
        Ok(true) => {
            row(what, Some(true), "yes: int3 reaches the debugger", "gdb breakpoints patch int3")
        }
        Ok(false) => row(
            what,
            Some(false),
            "no: int3 is not reported",
            "gdb breakpoints single-step instead (slower, not in native ring 3)",
        ),
        Err(e) => row(what, Some(false), format!("no: {e}"), ""),
    }
}

/// Where RIP points at a port-I/O exit, which KVMs differ on; mini-kvm corrects for it.
fn io_rip_row(f: &Findings) -> Row {
    let what = "RIP at KVM_EXIT_IO";
    let at = |after| if after { "after" } else { "at" };
    match &f.io_rip {
        Ok(io) => row(
            what,
            None,
            format!("out: {} the insn, in: {} it", at(io.out_after), at(io.in_after)),
            "mini-kvm reports the address of the instruction that exited",
        ),
        Err(e) => row(what, None, format!("not measured: {e}"), ""),
    }
}

/// Whether the registers survive a triple fault, so a fault message can say where it was.
fn shutdown_state_row(f: &Findings) -> Row {
    let what = "state at a triple fault";
    match &f.shutdown_regs_kept {
        Ok(true) => row(what, None, "kept", "fault messages name the faulting instruction"),
        Ok(false) => row(
            what,
            None,
            "reset by KVM (the vCPU is reinitialised)",
            "fault messages cannot say where a triple fault happened",
        ),
        Err(e) => row(what, None, format!("not measured: {e}"), ""),
    }
}

/// Whether the kernel can load mini-kvm's seccomp filter, which every run installs.
fn seccomp_row(f: &Findings) -> Row {
    match f.seccomp {
        Some(n) => row(
            "seccomp filter",
            Some(true),
            format!("available: {n} system calls allowed"),
            "each run confines mini-kvm from its first KVM_RUN (--no-seccomp: off)",
        ),
        None => row("seccomp filter", Some(false), "not in this kernel", "runs need --no-seccomp"),
    }
}
