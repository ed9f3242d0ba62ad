//! Crash reports: what a guest fault's vCPU was doing. The line `main` prints for a fault says
//! where the guest was (the I/O instruction itself for an I/O exit: exit_address.rs); below it,
//! the instruction there, decoded where it is one that stops a guest ([`decode`]), and in real
//! mode the interrupt vector table an exception jumps through. `-v` adds the registers and the
//! vCPU's last exits ([`ring`], a layer installed with `-v`). Nothing here runs unless a guest
//! faults.
//!
//! References: Intel SDM Vol. 3A 6.15 (exceptions), 20.1.4 (the real-mode interrupt vector
//! table), 9.1.1 (the state after RESET, which an AMD SVM KVM leaves after a triple fault).

pub mod decode;
pub mod ring;

use crate::console::message;
use crate::error::{Fault, Why};
use crate::exit_address::{at_io_instruction, guest_physical, IoRipRule};
use crate::kvm::bindings::{kvm_regs, kvm_sregs};
use crate::kvm::{Exit, Vcpu};
use crate::memory::GuestMemory;
use crate::x86::*;
use std::fmt::Write as _;

/// Prints the report of `fault` on `who` ("vCPU 0 (name)").
pub fn report(
    who: &str,
    fault: &Fault,
    vcpu: Option<&Vcpu>,
    memory: &GuestMemory,
    verbose: bool,
    io_rip: Option<IoRipRule>,
) {
    let mut reason = fault.why.to_string();
    let mut at = fault.at.as_deref().copied();
    if let (Some((regs, sregs)), Some(Exit::Io { out, port, size, .. }), Some(vcpu)) =
        (&mut at, fault.exit.as_deref().copied(), vcpu)
    {
        *regs = at_io_instruction(vcpu, memory, io_rip, *regs, sregs, (out, port, size));
    }
    if fault.why == Why::TripleFault && at.is_some_and(|(r, s)| is_reset_state(&r, &s)) {
        reason.push_str("; KVM reset the vCPU at the triple fault (as on AMD SVM), so the faulting address is not known");
        at = None;
    }
    let place =
        at.map_or(String::new(), |(regs, sregs)| format!(" at {}", location(&regs, &sregs)));
    message(&format!("mini-kvm: guest fault on {who}: {reason}{place}"));
    let exception =
        matches!(fault.exit.as_deref(), Some(Exit::Shutdown | Exit::InternalError { .. }));
    if let (Some((regs, sregs)), Some(vcpu), true) = (&at, vcpu, exception) {
        if let Some(code) = code_at(vcpu, memory, regs, sregs) {
            let shown = decode::hex_bytes(&code, 8);
            message(&match decode::decode(&code, CodeSize::of(&sregs.cs)) {
                Some(what) => format!("  the instruction there: {shown} = {what}"),
                None => {
                    format!("  the bytes there: {shown} (not an instruction this report decodes)")
                }
            });
        }
        if sregs.cr0 & CR0_PE == 0 {
            real_mode_vectors(memory, regs, sregs).iter().for_each(|l| message(l));
        }
    }
    match (verbose, at) {
        (true, Some((regs, sregs))) => message(&register_dump(&regs, &sregs)),
        (true, None) => {}
        (false, at) => {
            let registers = if at.is_some() { "the registers and " } else { "" };
            message(&format!(
                "  more with -v: {registers}this vCPU's last exits (up to {})",
                ring::RECENT_EXITS
            ));
        }
    }
}

/// Where the guest was: `CS:IP 0000:0005` in real mode, `RIP 0x... (CS 0x0008)` otherwise.
pub fn location(regs: &kvm_regs, sregs: &kvm_sregs) -> String {
    match sregs.cr0 & CR0_PE {
        0 => format!("CS:IP {:04x}:{:04x}", sregs.cs.selector, regs.rip & 0xFFFF),
        _ => format!("RIP {:#x} (CS {:#06x})", regs.rip, sregs.cs.selector),
    }
}

/// The state a vCPU has after RESET (Intel SDM Vol. 3A 9.1.1, Table 9-1; AMD APM Vol. 2
/// 14.1.3): CS 0xF000 with base 0xFFFF0000, IP 0xFFF0, neither PE nor PG. A KVM that resets
/// the vCPU at a triple fault (KVM on AMD SVM does) leaves this behind.
pub fn is_reset_state(regs: &kvm_regs, sregs: &kvm_sregs) -> bool {
    regs.rip == 0xFFF0
        && sregs.cs.selector == 0xF000
        && sregs.cs.base == 0xFFFF_0000
        && sregs.cr0 & (CR0_PE | CR0_PG) == 0
}

/// Up to 16 bytes at the faulting instruction, not past its page.
fn code_at(
    vcpu: &Vcpu,
    memory: &GuestMemory,
    regs: &kvm_regs,
    sregs: &kvm_sregs,
) -> Option<Vec<u8>> {
    let physical = guest_physical(vcpu, sregs, linear_pc(regs, sregs))?;
    let mut bytes = vec![0u8; 16.min(0x1000 - (physical & 0xFFF)) as usize];
    memory.read(physical, &mut bytes).ok()?;
    Some(bytes)
}

/// The exceptions a flat real-mode guest most often takes, with their names.
const REAL_MODE_VECTORS: [(usize, &str); 5] =
    [(6, "#UD (ud2)"), (13, "#GP"), (8, "#DF"), (0, "#DE (divide error)"), (3, "#BP (int3)")];

/// Real mode: which vector table entries lead where, and whether the fault is at one.
fn real_mode_vectors(memory: &GuestMemory, regs: &kvm_regs, sregs: &kvm_sregs) -> Vec<String> {
    let mut ivt = vec![0u8; (u64::from(sregs.idt.limit) + 1).min(4 * 32) as usize];
    if memory.read(sregs.idt.base, &mut ivt).is_err() {
        return Vec::new();
    }
    let target = |n: usize| {
        let e = ivt.get(4 * n..4 * n + 4)?;
        Some((u16::from_le_bytes([e[2], e[3]]), u16::from_le_bytes([e[0], e[1]])))
    };
    let here = (sregs.cs.selector, (regs.rip & 0xFFFF) as u16);
    let mut lines = vec![format!(
        "  real mode: an exception or `int n` jumps through the interrupt vector table at {:#x}, to the CS:IP stored at 4 x n; no BIOS set one up here, so in a flat guest loaded at 0 the table is the guest's own first bytes",
        sregs.idt.base
    )];
    if let Some((n, name)) = REAL_MODE_VECTORS.iter().find(|(n, _)| target(*n) == Some(here)) {
        lines.push(format!("  the fault is where entry {n} points: the guest took vector {n}, {name}, through that table and broke at the first instruction there"));
    }
    let jumps: Vec<String> = REAL_MODE_VECTORS[..3]
        .iter()
        .filter_map(|(n, name)| target(*n).map(|(cs, ip)| format!("{name} to {cs:04x}:{ip:04x}")))
        .collect();
    if !jumps.is_empty() {
        lines.push(format!("  the table sends {}", jumps.join(", ")));
    }
    lines
}

/// `-v`: the registers, with the bits of the flags and control registers named.
pub fn register_dump(r: &kvm_regs, sregs: &kvm_sregs) -> String {
    let mut s = String::new();
    let gprs = [
        (["RAX", "RBX", "RCX", "RDX"], [r.rax, r.rbx, r.rcx, r.rdx]),
        (["RSI", "RDI", "RSP", "RBP"], [r.rsi, r.rdi, r.rsp, r.rbp]),
        (["R8 ", "R9 ", "R10", "R11"], [r.r8, r.r9, r.r10, r.r11]),
        (["R12", "R13", "R14", "R15"], [r.r12, r.r13, r.r14, r.r15]),
    ];
    for (names, values) in gprs {
        let line: Vec<String> =
            names.iter().zip(values).map(|(n, v)| format!("{n}={v:016x}")).collect();
        let _ = writeln!(s, "  {}", line.join(" "));
    }
    let _ =
        writeln!(s, "  RIP={:016x} RFLAGS={:08x} [{}]", r.rip, r.rflags, describe_rflags(r.rflags));
    for (name, seg) in [("CS", &sregs.cs), ("DS", &sregs.ds), ("SS", &sregs.ss), ("ES", &sregs.es)]
    {
        let (sel, base, limit, t, dpl, db, l) =
            (seg.selector, seg.base, seg.limit, seg.type_, seg.dpl, seg.db, seg.l);
        let _ = writeln!(s, "  {name}={sel:04x} base={base:016x} limit={limit:08x} type={t:x} dpl={dpl} db={db} l={l}");
    }
    let (gdt, idt) = (&sregs.gdt, &sregs.idt);
    let _ = writeln!(s, "  GDT={:x}/{:x} IDT={:x}/{:x}", gdt.base, gdt.limit, idt.base, idt.limit);
    let _ = writeln!(s, "  CR0={:08x} [{}]", sregs.cr0, describe_cr0(sregs.cr0));
    let _ = writeln!(s, "  CR2={:016x} CR3={:016x}", sregs.cr2, sregs.cr3);
    let _ = writeln!(s, "  CR4={:08x} [{}]", sregs.cr4, describe_cr4(sregs.cr4));
    let _ = write!(s, "  EFER={:08x} [{}]", sregs.efer, describe_efer(sregs.efer));
    s
}

#[cfg(test)]
mod tests;
