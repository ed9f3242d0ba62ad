//! Explaining a guest fault: which exit, where the guest was, and (with `-v`) its registers.
//!
//! When a guest breaks, KVM only says *that* it broke: KVM_EXIT_SHUTDOWN (a triple fault: an
//! exception while delivering a double fault, Intel SDM Vol. 3A 6.15 "Interrupt 8"),
//! KVM_EXIT_INTERNAL_ERROR (usually "could not emulate this instruction"), KVM_EXIT_FAIL_ENTRY
//! (the CPU rejected the guest state, SDM Vol. 3C 26.3). This file turns those into one line a
//! student can act on: the reason in words, the vCPU, and CS:IP in real mode or RIP otherwise.
//! Then what teaches: the instruction at that address, decoded where it can be
//! ([`decode`]); in real mode, the interrupt table at address 0 an exception runs through; and
//! with `-v`, the registers and the vCPU's last exits ([`ring`], filled by the run loop).

use crate::kvm::bindings::*;
use crate::x86::*;
use std::fmt::Write as _;

pub mod decode;
pub mod ring;
pub use ring::{ExitRecord, ExitRing};

/// A guest fault with the state the vCPU was in.
#[derive(Debug, Clone, Default)]
pub struct Fault {
    pub reason: String,
    pub regs: Option<kvm_regs>,
    pub sregs: Option<kvm_sregs>,
    /// The bytes at the faulting instruction (up to 16), where they could be read, after an
    /// exit an exception leads to (a triple fault, an emulation failure).
    pub code: Option<Vec<u8>>,
    /// In real mode, after an exit that an exception leads to (a triple fault, an emulation
    /// failure): the first 32 entries of the interrupt vector table, 4 bytes each.
    pub ivt: Option<Vec<u8>>,
    /// The vCPU's last exits, oldest first (the fault's own exit last).
    pub recent: Vec<ExitRecord>,
    /// How many exits the vCPU made in all.
    pub exits: u64,
}

/// The lines after the one-line cause that every fault report has, where they apply: the
/// instruction at the address, and the real-mode interrupt table; then, without `-v`, what
/// `-v` would show.
pub fn explanation(fault: &Fault) -> Vec<String> {
    let mut lines = Vec::new();
    if let (Some(code), Some(sregs)) = (&fault.code, &fault.sregs) {
        let shown = decode::hex_bytes(code, 8);
        lines.push(match decode::decode(code, CodeSize::of(&sregs.cs)) {
            Some(what) => format!("  the instruction there: {shown} = {what}"),
            None => format!("  the bytes there: {shown} (not an instruction this report decodes)"),
        });
    }
    if let (Some(ivt), Some(sregs)) = (&fault.ivt, &fault.sregs) {
        lines.extend(real_mode_vectors(ivt, fault.regs.as_ref(), sregs));
    }
    if !crate::log::verbose() {
        lines.push(how_to_see_more(fault));
    }
    lines
}

/// The last line of a report without `-v`: what `-v` would add (the lines
/// machine/report.rs prints with it: [`register_dump`] where the registers were read,
/// [`recent_exits`] always).
pub fn how_to_see_more(fault: &Fault) -> String {
    let registers = if fault.regs.is_some() && fault.sregs.is_some() {
        "the registers and "
    } else {
        ""
    };
    format!(
        "  more with -v: {registers}this vCPU's last exits (up to {})",
        ring::RECENT_EXITS
    )
}

/// The exceptions a real-mode report names, by vector.
const REAL_MODE_VECTORS: [(usize, &str); 5] = [
    (6, "#UD (ud2)"),
    (13, "#GP"),
    (8, "#DF"),
    (0, "#DE (divide error)"),
    (3, "#BP (int3)"),
];

/// Real mode has no IDT of gates but a table of far pointers at IDTR.base (0 after reset):
/// vector n's handler is the IP, then CS, at 4 x n (SDM Vol. 3A 20.1.4). No BIOS runs here, so
/// unless the guest wrote its own, the table is whatever was loaded at 0.
fn real_mode_vectors(ivt: &[u8], regs: Option<&kvm_regs>, sregs: &kvm_sregs) -> Vec<String> {
    let target = |n: usize| {
        let e = ivt.get(4 * n..4 * n + 4)?;
        Some((
            u16::from_le_bytes([e[2], e[3]]),
            u16::from_le_bytes([e[0], e[1]]),
        ))
    };
    let here = regs.map(|r| (sregs.cs.selector, (r.rip & 0xFFFF) as u16));
    let mut lines = vec![format!(
        "  real mode: an exception or `int n` jumps through the interrupt vector table at \
         {:#x}, to the CS:IP stored at 4 x n; no BIOS set one up here, so in a flat guest \
         loaded at 0 the table is the guest's own first bytes",
        sregs.idt.base
    )];
    let taken = REAL_MODE_VECTORS
        .iter()
        .find(|(n, _)| here.is_some() && target(*n) == here);
    if let Some((n, name)) = taken {
        lines.push(format!(
            "  the fault is where entry {n} points: the guest took vector {n}, {name}, \
             through that table and broke at the first instruction there"
        ));
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

/// `-v`: the vCPU's last exits, oldest first, the one that ended it last.
pub fn recent_exits(fault: &Fault) -> String {
    let mut s = format!(
        "  the last {} of {} exits, oldest first (RIP as KVM left it: past an in/out on some \
         KVMs):",
        fault.recent.len(),
        fault.exits
    );
    for record in &fault.recent {
        let _ = write!(s, "\n    {}", record.describe());
    }
    s
}

/// Words for KVM_EXIT_INTERNAL_ERROR's suberror, plus the instruction bytes KVM may include.
pub fn internal_error_text(suberror: u32, data: &[u64]) -> String {
    let what = match suberror {
        KVM_INTERNAL_ERROR_EMULATION => {
            "emulation failure: KVM could not emulate the guest's instruction"
        }
        KVM_INTERNAL_ERROR_SIMUL_EX => "an exception occurred while delivering another one",
        KVM_INTERNAL_ERROR_DELIVERY_EV => "an event could not be delivered to the guest",
        KVM_INTERNAL_ERROR_UNEXPECTED_EXIT_REASON => {
            "the hardware exited for a reason KVM did not expect"
        }
        _ => "an internal KVM error",
    };
    let mut s = format!("KVM_EXIT_INTERNAL_ERROR (suberror {suberror}): {what}");
    if !data.is_empty() {
        let words: Vec<String> = data.iter().map(|d| format!("{d:#x}")).collect();
        let _ = write!(s, " [data {}]", words.join(" "));
    }
    s
}

/// Where the guest was: `CS:IP 0000:0005` in real mode, `RIP 0x...` in protected/long mode.
pub fn location(regs: &kvm_regs, sregs: &kvm_sregs) -> String {
    if sregs.cr0 & CR0_PE == 0 {
        format!("CS:IP {:04x}:{:04x}", sregs.cs.selector, regs.rip & 0xFFFF)
    } else {
        format!("RIP {:#x} (CS {:#06x})", regs.rip, sregs.cs.selector)
    }
}

/// The state a vCPU has after RESET (Intel SDM Vol. 3A 9.1.1, Table 9-1; AMD APM Vol. 2
/// 14.1.3): CS 0xF000 with base 0xFFFF0000, IP 0xFFF0, CR0 with neither PE nor PG. A KVM
/// that resets the vCPU when the guest triple-faults (KVM on AMD SVM does) leaves this behind.
pub fn is_reset_state(regs: Option<&kvm_regs>, sregs: Option<&kvm_sregs>) -> bool {
    match (regs, sregs) {
        (Some(regs), Some(sregs)) => {
            regs.rip == 0xFFF0
                && sregs.cs.selector == 0xF000
                && sregs.cs.base == 0xFFFF_0000
                && sregs.cr0 & (CR0_PE | CR0_PG) == 0
        }
        _ => false,
    }
}

/// The register dump `-v` prints after a fault, control bits decoded.
pub fn register_dump(regs: &kvm_regs, sregs: &kvm_sregs) -> String {
    let r = regs;
    let mut s = String::new();
    let _ = writeln!(
        s,
        "  RAX={:016x} RBX={:016x} RCX={:016x} RDX={:016x}",
        r.rax, r.rbx, r.rcx, r.rdx
    );
    let _ = writeln!(
        s,
        "  RSI={:016x} RDI={:016x} RSP={:016x} RBP={:016x}",
        r.rsi, r.rdi, r.rsp, r.rbp
    );
    let _ = writeln!(
        s,
        "  R8 ={:016x} R9 ={:016x} R10={:016x} R11={:016x}",
        r.r8, r.r9, r.r10, r.r11
    );
    let _ = writeln!(
        s,
        "  R12={:016x} R13={:016x} R14={:016x} R15={:016x}",
        r.r12, r.r13, r.r14, r.r15
    );
    let _ = writeln!(
        s,
        "  RIP={:016x} RFLAGS={:08x} [{}]",
        r.rip,
        r.rflags,
        describe_rflags(r.rflags)
    );
    for (name, seg) in [
        ("CS", &sregs.cs),
        ("DS", &sregs.ds),
        ("SS", &sregs.ss),
        ("ES", &sregs.es),
    ] {
        let _ = writeln!(
            s,
            "  {name}={:04x} base={:016x} limit={:08x} type={:x} dpl={} db={} l={}",
            seg.selector, seg.base, seg.limit, seg.type_, seg.dpl, seg.db, seg.l
        );
    }
    let _ = writeln!(
        s,
        "  GDT={:x}/{:x} IDT={:x}/{:x}",
        sregs.gdt.base, sregs.gdt.limit, sregs.idt.base, sregs.idt.limit
    );
    let _ = writeln!(s, "  CR0={:08x} [{}]", sregs.cr0, describe_cr0(sregs.cr0));
    let _ = writeln!(s, "  CR2={:016x} CR3={:016x}", sregs.cr2, sregs.cr3);
    let _ = writeln!(s, "  CR4={:08x} [{}]", sregs.cr4, describe_cr4(sregs.cr4));
    let _ = write!(
        s,
        "  EFER={:08x} [{}]",
        sregs.efer,
        describe_efer(sregs.efer)
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_mode_location_is_cs_ip() {
        let regs = kvm_regs {
            rip: 0x12,
            ..Default::default()
        };
        let mut sregs = kvm_sregs::default();
        sregs.cs.selector = 0x4000;
        assert_eq!(location(&regs, &sregs), "CS:IP 4000:0012");
        sregs.cr0 = CR0_PE;
        sregs.cs.selector = 8;
        assert_eq!(location(&regs, &sregs), "RIP 0x12 (CS 0x0008)");
    }

    #[test]
    fn the_reset_state_is_recognised() {
        let regs = kvm_regs {
            rip: 0xFFF0,
            ..Default::default()
        };
        let mut sregs = kvm_sregs::default();
        sregs.cs.selector = 0xF000;
        sregs.cs.base = 0xFFFF_0000;
        sregs.cr0 = 0x6000_0010;
        assert!(is_reset_state(Some(&regs), Some(&sregs)));
        sregs.cr0 |= CR0_PE;
        assert!(!is_reset_state(Some(&regs), Some(&sregs)));
        assert!(!is_reset_state(None, Some(&sregs)));
    }

    #[test]
    fn a_report_ends_saying_what_v_adds() {
        let mut fault = Fault::default();
        assert_eq!(
            how_to_see_more(&fault),
            "  more with -v: this vCPU's last exits (up to 16)"
        );
        fault.regs = Some(kvm_regs::default());
        fault.sregs = Some(kvm_sregs::default());
        assert_eq!(
            how_to_see_more(&fault),
            "  more with -v: the registers and this vCPU's last exits (up to 16)"
        );
        assert_eq!(explanation(&fault).last(), Some(&how_to_see_more(&fault)));
    }

    #[test]
    fn internal_errors_are_explained() {
        let s = internal_error_text(KVM_INTERNAL_ERROR_EMULATION, &[0x10, 0xcd80]);
        assert!(s.starts_with("KVM_EXIT_INTERNAL_ERROR (suberror 1): emulation failure"));
        assert!(s.ends_with("[data 0x10 0xcd80]"));
    }

    #[test]
    fn dump_decodes_control_registers() {
        let regs = kvm_regs {
            rflags: 0x202,
            ..Default::default()
        };
        let sregs = kvm_sregs {
            cr0: 0x8000_0011,
            cr4: CR4_PAE,
            efer: EFER_LME | EFER_LMA,
            ..Default::default()
        };
        let dump = register_dump(&regs, &sregs);
        assert!(dump.contains("CR0=80000011 [PE ET PG]"));
        assert!(dump.contains("CR4=00000020 [PAE]"));
        assert!(dump.contains("EFER=00000500 [LME LMA]"));
        assert!(dump.contains("RFLAGS=00000202 [IF]"));
    }
}
