//! The `--host-check=keys` lines: one `key value` fact per line, for scripts and tests
//! (`tests/host_check.rs`, and every test that decides what to expect on this host) to read,
//! where the table (report.rs) is for people. Values come from a small fixed vocabulary: no
//! measurements, so the lines are the same at every run on one host. docs/kvm-variants.md
//! lists each key's value on each kind of KVM.

use super::{native, Findings, IntRing3, Paging32, SingleStep};

/// `key value` lines, in the order of [`KEYS`].
pub(super) fn keys(f: &Findings) -> String {
    let lines = KEYS.iter().filter_map(|(key, value)| Some(format!("{key} {}\n", value(f)?)));
    lines.collect()
}

/// Reads one key's value from the findings; `None` leaves the line out.
type Value = fn(&Findings) -> Option<String>;

/// The keys in the order they are printed, each with the function that reads its value. The
/// RIP keys are left out when that probe could not measure.
const KEYS: &[(&str, Value)] = &[
    ("kind", |f| word(if f.paravirtual() { "paravirtual" } else { "real" })),
    ("name", |f| Some(f.kind())),
    ("real-mode", |f| yes_no(f.real_mode.yes())),
    ("protected-mode", |f| yes_no(f.protected_mode.yes())),
    ("paging32", |f| yes_no(f.paging32 == Paging32::Works)),
    ("long-mode", |f| yes_no(f.long_mode.yes())),
    ("irqchip", |f| yes_no(f.interrupts.yes())),
    ("int-ring3", |f| {
        word(match f.int_ring3 {
            IntRing3::ThroughIdt => "idt",
            IntRing3::UdAtInt => "ud",
            IntRing3::Fails(_) => "no",
        })
    }),
    ("int-pm32", |f| yes_no(f.int_pm32.yes())),
    ("ring3-code", |f| code(native(f.ring3_ns))),
    ("ring0-code", |f| code(native(f.ring0_ns))),
    ("single-step", |f| yes_no(matches!(f.single_step, SingleStep::Works { .. }))),
    ("single-step-ring3", |f| yes_no(f.steps_in_ring3())),
    ("sw-breakpoints", |f| yes_no(f.sw_breakpoints == Ok(true))),
    ("io-out-rip", |f| f.io_rip.as_ref().ok().and_then(|io| at(io.out_after))),
    ("io-in-rip", |f| f.io_rip.as_ref().ok().and_then(|io| at(io.in_after))),
    ("shutdown-regs", |f| {
        word(match f.shutdown_regs_kept {
            Ok(true) => "kept",
            Ok(false) => "reset",
            Err(_) => "unknown",
        })
    }),
    ("sync-regs", |f| Some(format!("{:#x}", f.sync_regs))),
    ("immediate-exit", |f| yes_no(f.immediate_exit)),
    ("coalesced-pio", |f| yes_no(f.coalesced_pio && f.coalesced_page > 0)),
    ("ioeventfd", |f| yes_no(f.ioeventfd.yes())),
    ("irqfd", |f| yes_no(f.irqfd.yes())),
    ("hw-breakpoints", |f| Some(f.hw_breakpoints.to_string())),
    ("ap-start", |f| yes_no(f.ap_start.yes())),
    ("seccomp", |f| yes_no(f.seccomp.is_some())),
    ("linux-boot", |f| yes_no(f.linux_boots())),
];

/// A key's value that is one fixed word.
fn word(w: &str) -> Option<String> {
    Some(w.to_string())
}

/// A finding that either holds or does not.
fn yes_no(b: bool) -> Option<String> {
    word(if b { "yes" } else { "no" })
}

/// How guest code of one ring runs, from [`native`]'s reading of the loop time.
fn code(native: Option<bool>) -> Option<String> {
    word(match native {
        Some(true) => "native",
        Some(false) => "emulated",
        None => "unknown",
    })
}

/// Where RIP points at a port-I/O exit: after the instruction, or at it.
fn at(after: bool) -> Option<String> {
    word(if after { "after" } else { "at" })
}
