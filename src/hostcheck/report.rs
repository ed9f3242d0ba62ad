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

/// A row of something that does not work: `no: why`.
fn no(what: &'static str, why: impl std::fmt::Display, meaning: &str) -> Row {
    row(what, Some(false), format!("no: {why}"), meaning)
}

/// A row of a check that works or not, with the meaning of each.
fn works_row(what: &'static str, works: &Works, yes: &str, meaning_no: &str) -> Row {
    match works {
        Works::Yes => row(what, Some(true), "yes", yes),
        Works::No(why) => no(what, why, meaning_no),
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

/// The table, top to bottom: for each row what is tested, and each answer's result and
/// meaning (formatted by hand, as a table: rustfmt would give every argument a line). The
/// ring-3 single-step row appears only where stepping there fails, since it explains that
/// failure.
#[rustfmt::skip]
fn rows(f: &Findings) -> Vec<Row> {
    let (r3, r0) = (native(f.ring3_ns), native(f.ring0_ns));
    let coalesced = f.coalesced_pio && f.coalesced_page > 0;
    let mut rows = vec![
        works_row("real mode", &f.real_mode,
            "the C VMM's flat 16-bit guests run", "no guest can run"),
        works_row("32-bit protected mode", &f.protected_mode,
            "Multiboot kernels start here (paging off)", "Multiboot kernels cannot start"),
        // Some KVMs silently drop CR0.PG, which `--paging` must refuse.
        match &f.paging32 {
            Paging32::Works => row("32-bit paging", Some(true), "yes",
                "the C VMM's --paging kernels can run"),
            Paging32::PgDropped { wanted, read_back } => no("32-bit paging",
                format!("CR0 {wanted:#x} read back {read_back:#x}"),
                "PG dropped: --paging refuses with status 4; the 1K OS is 64-bit"),
            Paging32::Failed(e) => no("32-bit paging", e, "--paging cannot run"),
        },
        works_row("long mode", &f.long_mode,
            "--long-mode guests and the 1K OS run", "64-bit guests and the 1K OS cannot run"),
        // The 1K OS's timer, with the measured tick time.
        match &f.interrupts {
            Works::Yes => row("in-kernel irqchip + PIT", Some(true), "yes: 10 ticks at 100 Hz",
                &format!("{:.0} ms for 10 ticks: the 1K OS gets its timer and COM1 interrupts",
                    f.ten_ticks_ms)),
            Works::No(why) => no("in-kernel irqchip + PIT", why, "the 1K OS gets no timer"),
        },
        // Decided by the kind of KVM, with where to go if not.
        match f.linux_boots() {
            true => row("Linux boot (--linux)", Some(true), "yes",
                "ordinary Linux kernels boot with --linux"),
            false => no("Linux boot (--linux)", "not on this kind of KVM",
                "--linux exits 4; boot Linux in the real-KVM lane (make test-real-kvm)"),
        },
        // The 1K OS's system calls depend on it.
        match &f.int_ring3 {
            IntRing3::ThroughIdt => row("int n from ring 3", Some(true),
                "delivered through the IDT gate", "system calls by int 0x80 work as on hardware"),
            IntRing3::UdAtInt => row("int n from ring 3", Some(true),
                "arrives as #UD at the int instruction",
                "the 1K OS's #UD handler recognises CD 80 and runs the system call"),
            IntRing3::Fails(why) => no("int n from ring 3", why,
                "ring-3 programs cannot make system calls"),
        },
        works_row("int n in 32-bit ring 0", &f.int_pm32,
            "32-bit kernels can use software interrupts", "32-bit kernels cannot use int n"),
        // Native or emulated, from the measured loop times: why guests, and gdb's
        // single-steps, are fast or slow.
        row("ring-3 and ring-0 code", None, format!("ring 3 {}, ring 0 {}", speed(r3), speed(r0)),
            &format!("{:.1} / {:.1} ns per loop: {}",
                f.ring3_ns.unwrap_or(0.0), f.ring0_ns.unwrap_or(0.0), match (r3, r0) {
                    (Some(true), Some(false)) =>
                        "user programs run fast; kernel code and single-steps are slow",
                    (Some(true), _) => "guest code runs on the hardware",
                    _ => "guest code is emulated: expect slow guests",
                })),
        // KVM_GUESTDBG_SINGLESTEP, which gdb's `stepi` needs.
        match &f.single_step {
            SingleStep::Works { first_pcs: (a, b) } => row("single-step", Some(true),
                "yes: a KVM_EXIT_DEBUG per instruction",
                &format!("pc {a:#x}, {b:#x}, ...: gdb stepi works (--gdb)")),
            SingleStep::Fails(why) => no("single-step", why, "gdb cannot step"),
        },
    ];
    if !f.steps_in_ring3() {
        rows.push(row("single-step in ring 3", Some(false), "no exits from native ring-3 code",
            "gdb cannot step or break inside user programs here"));
    }
    let at = |after| if after { "after" } else { "at" };
    rows.extend([
        // Whether `int3` reaches the debugger decides how gdb breakpoints are made.
        match &f.sw_breakpoints {
            Ok(true) => row("software breakpoints", Some(true), "yes: int3 reaches the debugger",
                "gdb breakpoints patch int3"),
            Ok(false) => no("software breakpoints", "int3 is not reported",
                "gdb breakpoints single-step instead (slower, not in native ring 3)"),
            Err(e) => no("software breakpoints", e, ""),
        },
        // KVMs differ on it; mini-kvm corrects for it.
        match &f.io_rip {
            Ok(io) => row("RIP at KVM_EXIT_IO", None,
                format!("out: {} the insn, in: {} it", at(io.out_after), at(io.in_after)),
                "mini-kvm reports the address of the instruction that exited"),
            Err(e) => row("RIP at KVM_EXIT_IO", None, format!("not measured: {e}"), ""),
        },
        // Whether the registers survive a triple fault, so a fault message can say where.
        match &f.shutdown_regs_kept {
            Ok(true) => row("state at a triple fault", None, "kept",
                "fault messages name the faulting instruction"),
            Ok(false) => row("state at a triple fault", None,
                "reset by KVM (the vCPU is reinitialised)",
                "fault messages cannot say where a triple fault happened"),
            Err(e) => row("state at a triple fault", None, format!("not measured: {e}"), ""),
        },
        yes_no_row("KVM_CAP_SYNC_REGS", f.sync_regs > 0, format!("yes ({:#x})", f.sync_regs),
            "hypercalls read AL/BL without an extra ioctl"),
        yes_no_row("KVM_CAP_IMMEDIATE_EXIT", f.immediate_exit, "yes".into(),
            "vCPUs stop without races (--timeout, Ctrl-A x)"),
        yes_no_row("KVM_CAP_COALESCED_PIO", coalesced,
            format!("yes (ring at page {})", f.coalesced_page), match coalesced {
                true => "COM1 THR writes wait in KVM's ring, not one exit each",
                false => "every COM1 THR write is an exit",
            }),
        works_row("ioeventfd", &f.ioeventfd,
            "the disk's queue notifies wake its thread with no exit",
            "each disk queue notify is an MMIO exit"),
        works_row("irqfd delivery", &f.irqfd,
            "the disk's thread interrupts the guest with no ioctl",
            "the disk interrupts through KVM_IRQ_LINE"),
        row("vCPUs", None, format!("{} recommended, {} at most", f.nr_vcpus, f.max_vcpus),
            &format!("{} hardware breakpoints; mini-kvm runs up to 4 guests, or a kernel on up \
                to 8 CPUs", f.hw_breakpoints)),
        works_row("start a second CPU", &f.ap_start,
            "INIT/SIPI from the boot CPU starts another: --cpus 2 to 8 work",
            "--cpus above 1 is refused (status 4)"),
        // The filter every run installs.
        match f.seccomp {
            Some(n) => row("seccomp filter", Some(true),
                format!("available: {n} system calls allowed"),
                "each run confines mini-kvm from its first KVM_RUN (--no-seccomp: off)"),
            None => row("seccomp filter", Some(false), "not in this kernel",
                "runs need --no-seccomp"),
        },
        row("exit cost", None, "one port-I/O exit round trip",
            &f.exit_cost_us.map_or("not measured".into(), |us| format!("{us:.1} us per exit"))),
    ]);
    rows
}

/// How code of one ring runs, from [`native`]'s reading of its loop time.
fn speed(native: Option<bool>) -> &'static str {
    match native {
        Some(true) => "native",
        Some(false) => "emulated",
        None => "not measured",
    }
}
