//! gdb's `monitor` commands: `monitor help`, `monitor pagewalk ADDR`, a page walk a student
//! can read level by level, and `monitor breakpoints`, whether this KVM can hit each one.
//!
//! gdb sends `monitor TEXT` as `qRcmd,` + TEXT in hex (gdb manual, E.4 "General Query Packets",
//! qRcmd); the stub answers with console output (`O` + hex, any number of packets) and then
//! `OK`. The walk is pagewalk.rs's; this file puts it in words: for each level the entry's
//! index, its physical address, its value and its flags (Intel SDM Vol. 3A 4.5, Tables 4-15 to
//! 4-20 for 4-level paging; 4.3 for 32-bit, 4.4 for PAE), then the physical address or the
//! level that faults and why.

use super::pagewalk::{self, Fault, Paging, PhysRead, Step, Trace};
use crate::kvm::bindings::kvm_sregs;
use std::fmt::Write as _;

/// A `monitor` command, parsed from the text gdb sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Monitor {
    Help,
    PageWalk(u64),
    Breakpoints,
    /// What the user typed, and what is wrong with it.
    Bad(String, &'static str),
}

/// What `monitor help` prints.
pub const HELP: &str = "\
mini-kvm monitor commands:
  monitor help            this list
  monitor pagewalk ADDR   walk the current vCPU's page tables for the linear address ADDR
                          (hex with 0x, or decimal): every level's index, entry address,
                          entry value and flags, then the physical address or the fault
  monitor breakpoints     every breakpoint, how it is watched, and whether this KVM can
                          hit it (where ring-3 code cannot be stepped, one on a user page
                          never fires)
";

/// Parses `help` or `pagewalk ADDR` (words separated by blanks).
pub fn parse(text: &str) -> Monitor {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [] | ["help"] => Monitor::Help,
        ["breakpoints"] => Monitor::Breakpoints,
        ["pagewalk", addr] => match number(addr) {
            Some(addr) => Monitor::PageWalk(addr),
            None => Monitor::Bad(text.into(), "ADDR is not a number (try 0xffffffff80100000)"),
        },
        ["pagewalk", ..] => Monitor::Bad(text.into(), "usage: monitor pagewalk ADDR"),
        _ => Monitor::Bad(text.into(), "unknown monitor command (try monitor help)"),
    }
}

/// One breakpoint in `monitor breakpoints`: its address, how it is watched, whether it can be
/// hit.
pub struct BreakpointLine {
    pub addr: u64,
    pub how: &'static str,
    pub reach: super::debugger::Reach,
}

/// `monitor breakpoints`: one line per breakpoint. `inserted_now`: these are in now, rather
/// than the ones gdb put in at the last resume (it takes them out at each stop).
pub fn breakpoints_text(lines: &[BreakpointLine], inserted_now: bool) -> String {
    use super::debugger::Reach;
    if lines.is_empty() {
        return "no breakpoints (gdb puts its breakpoints in when the guest resumes)\n".into();
    }
    let mut s = if inserted_now {
        String::new()
    } else {
        "gdb takes its breakpoints out while the guest is stopped; at the last continue or \
         step it had:\n"
            .into()
    };
    for line in lines {
        let reach = match &line.reach {
            Reach::Yes => "can be hit".to_string(),
            Reach::Supervisor => {
                "can be hit: a supervisor page now (checked again at exits)".into()
            }
            Reach::No => "can never be hit: on a user-mode page, and this KVM runs ring-3 code \
                          natively, without single-step exits"
                .to_string(),
            Reach::NotMapped(why) => format!(
                "not mapped now ({why}): can be hit unless it turns out to be on a user-mode \
                 page, which stops the guest once to say so"
            ),
        };
        let _ = writeln!(s, "{:#018x}  {:<14}  {reach}", line.addr, line.how);
    }
    s
}

/// `0x...` hex or decimal, as gdb users type addresses.
fn number(text: &str) -> Option<u64> {
    match text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => text.parse().ok(),
    }
}

/// The flags of a page-table entry, by the SDM's names. Bit 7 is PS in a directory entry
/// and PAT in a PTE; bit 63 (NX, with EFER.NXE) exists only in 8-byte entries.
fn flags(step: &Step) -> String {
    let ps = if step.name == "PTE" { "PAT" } else { "PS" };
    let us = if step.has_user_bit { "US" } else { "" };
    let mut names = vec!["P", "RW", us, "PWT", "PCD", "A", "D", ps, "G"];
    if step.width == 8 {
        names.resize(63, "");
        names.push("NX");
    }
    crate::x86::describe(step.entry, &names)
}

/// Which paging structure, in words.
fn paging_name(paging: Paging) -> &'static str {
    match paging {
        Paging::Off => "paging off",
        Paging::Bits32 { pse: false } => "32-bit paging",
        Paging::Bits32 { pse: true } => "32-bit paging with 4 MiB pages (CR4.PSE)",
        Paging::Pae => "PAE paging",
        Paging::Long { levels: 5 } => "5-level paging",
        Paging::Long { .. } => "4-level paging",
    }
}

/// A page size in words: 4 KiB, 2 MiB, 1 GiB.
fn size_name(size: u64) -> String {
    match size {
        s if s >= 1 << 30 => format!("{} GiB", s >> 30),
        s if s >= 1 << 20 => format!("{} MiB", s >> 20),
        s => format!("{} KiB", s >> 10),
    }
}

/// `monitor pagewalk ADDR` on a vCPU with these special registers: the walk, in words.
pub fn pagewalk_text(mem: &dyn PhysRead, sregs: &kvm_sregs, linear: u64) -> String {
    let paging = Paging::of(sregs);
    if paging == Paging::Off {
        return format!(
            "pagewalk {linear:#x}: paging is off (CR0.PG = 0): the linear address is the \
             physical address {linear:#x}\n"
        );
    }
    let trace = pagewalk::trace(mem, paging, sregs.cr3, linear);
    render(&trace, paging, sregs.cr3, linear)
}

/// The table of levels, then the outcome.
pub fn render(trace: &Trace, paging: Paging, cr3: u64, linear: u64) -> String {
    let mut s = format!("pagewalk {linear:#x}: {}, CR3 {cr3:#x}\n", paging_name(paging));
    let _ =
        writeln!(s, "{:<6} {:>5}  {:<10}  {:<18}  flags", "level", "index", "entry at", "entry");
    for step in &trace.steps {
        let digits = usize::from(step.width) * 2;
        let entry = format!("{:#0w$x}", step.entry, w = digits + 2);
        let _ = write!(
            s,
            "{:<6} {:>5}  {:<10}  {entry:<18}  {}",
            step.name,
            step.index,
            format!("{:#x}", step.at),
            flags(step),
        );
        if let Some(size) = step.page_size {
            let _ = write!(s, " ({} page)", size_name(size));
        }
        s.push('\n');
    }
    let end = match trace.end {
        Ok(physical) => format!("physical address {physical:#x}"),
        Err(Fault::NotPresent(_)) => {
            let name = trace.steps.last().map_or("entry", |step| step.name);
            format!(
                "fault at the {name}: not present (P = 0): an access to {linear:#x} raises #PF \
                 (vector 14) with CR2 = {linear:#x}"
            )
        }
        Err(Fault::Unreadable(at)) => format!(
            "fault: the next entry would be at {at:#x}, outside guest RAM: the table address in \
             the entry above is wrong"
        ),
    };
    let _ = writeln!(s, "{end}");
    s
}

#[cfg(test)]
mod tests;
