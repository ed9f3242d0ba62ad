//! Where an I/O exit happened: RIP moved back to the `in`/`out` itself on a KVM that reports
//! it past the instruction, so traces and fault messages name the same address on every kind
//! of KVM (the rule and the decoding are exit_address.rs's; this reads the guest's bytes).

use crate::exit_address::{IoAccess, IoRipRule};
use crate::kvm::bindings::{kvm_regs, kvm_sregs};
use crate::kvm::Vcpu;
use crate::memory::GuestMemory;
use crate::x86::CodeSize;

/// The guest-physical address of a linear one: itself with paging off, else through the
/// guest's page tables (KVM_TRANSLATE, api.rst 4.15); None where nothing is mapped.
pub(super) fn guest_physical(vcpu: &Vcpu, sregs: &kvm_sregs, linear: u64) -> Option<u64> {
    if sregs.cr0 & crate::x86::CR0_PG == 0 {
        return Some(linear);
    }
    vcpu.translate(linear)
        .ok()
        .filter(|t| t.valid != 0)
        .map(|t| t.physical_address)
}

/// An I/O exit's direction (true: out), port and access size.
pub(super) type IoExit = (bool, u16, u8);

/// `regs` with RIP moved back to the I/O instruction that caused the exit, on a host that
/// reports RIP past it (exit_address.rs); unchanged where the bytes cannot be read.
pub(super) fn at_io_instruction(
    vcpu: &Vcpu,
    memory: &GuestMemory,
    rule: Option<IoRipRule>,
    mut regs: kvm_regs,
    sregs: &kvm_sregs,
    (out, port, size): IoExit,
) -> kvm_regs {
    let code = CodeSize::of(&sregs.cs);
    let ip = regs.rip & code.ip_mask();
    let access = IoAccess {
        out,
        port,
        size,
        code_operand_size: if code == CodeSize::Bits16 { 2 } else { 4 },
    };
    let linear_rip = crate::x86::linear_pc(&regs, sregs);
    let physical = |linear: u64| guest_physical(vcpu, sregs, linear);
    // The (up to) 4 bytes before RIP, from the page that holds the byte just before it: an
    // I/O instruction that started on the previous page is rare enough to leave uncorrected.
    let Some(last) = linear_rip.checked_sub(1) else {
        return regs;
    };
    let Some(last_physical) = physical(last) else {
        return regs;
    };
    let n = ip.min(4).min((last & 0xFFF) + 1);
    let mut bytes = [0u8; 4];
    let before = &mut bytes[..n as usize];
    if memory.read(last_physical + 1 - n, before).is_err() {
        return regs;
    }
    let rule = rule.unwrap_or_else(|| {
        // Not measured: an I/O instruction of this exit at RIP means RIP was left at it.
        let mut at = [0u8; 4];
        let n = (0x1000 - (linear_rip & 0xFFF)).min(4) as usize;
        let readable = physical(linear_rip).is_some_and(|p| memory.read(p, &mut at[..n]).is_ok());
        crate::exit_address::guess_rule(&access, before, readable.then_some(&at[..n]))
    });
    let back = crate::exit_address::bytes_back(rule, &access, before);
    regs.rip = regs.rip.wrapping_sub(back);
    regs
}
