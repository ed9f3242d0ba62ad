//! Which instruction caused a KVM_EXIT_IO? One answer on every kind of KVM.
//!
//! KVMs disagree on where RIP points when they stop for port I/O. Mainline KVM on Intel VMX
//! and AMD SVM takes the I/O intercept and leaves RIP at the `out`/`in` itself; it skips the
//! instruction when the VMM enters the guest again (api.rst 5, KVM_EXIT_IO: "the instruction
//! is completed on the next KVM_RUN"). A KVM that runs the guest through its instruction
//! emulator (a paravirtual KVM, or real-mode code on VMX without unrestricted guest) completes
//! an `out` before it exits and so reports RIP *after* it, while an `in` still waits for its
//! data with RIP at the instruction. `mini-kvm --host-check` measures the rule with a 4-byte
//! probe (guests/probes/io_rip.asm); this file turns "RIP after the instruction" back into the
//! instruction's own address by decoding the few bytes before RIP, so that traces, fault
//! messages and gdb say the same address for the same instruction on every host.
//!
//! The I/O instructions (Intel SDM Vol. 2, "IN", "OUT", "INS", "OUTS"):
//! `E4 ib`/`E5 ib` in from an 8-bit port, `E6 ib`/`E7 ib` out, `EC`/`ED` in from DX, `EE`/`EF`
//! out to DX, `6C`/`6D` ins, `6E`/`6F` outs; the odd opcodes move a word or dword, chosen by
//! the code size and an optional `66` operand-size prefix; string forms may carry `F3` (rep).

use crate::kvm::bindings::{kvm_regs, kvm_sregs};
use crate::kvm::Vcpu;
use crate::memory::GuestMemory;
use crate::x86::CodeSize;

/// Where this host leaves RIP at KVM_EXIT_IO, for each direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoRipRule {
    /// RIP is past the `out` already.
    pub out_after: bool,
    /// RIP is past the `in` already.
    pub in_after: bool,
}

impl IoRipRule {
    /// What mainline KVM on VMX/SVM does: RIP at the instruction, both ways.
    pub const AT_INSTRUCTION: IoRipRule = IoRipRule { out_after: false, in_after: false };
}

/// One I/O exit as the decoder needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoAccess {
    pub out: bool,
    pub port: u16,
    /// 1, 2 or 4 bytes per access.
    pub size: u8,
    /// Default operand size of the code: 2 in real mode and 16-bit segments, else 4.
    pub code_operand_size: u8,
}

/// Does an I/O instruction of exactly `bytes` match `io`?
fn matches(bytes: &[u8], io: &IoAccess) -> bool {
    // Prefixes the I/O instructions honour: 66 (operand size) and F3 (rep, string forms).
    let p = crate::x86::prefixes(bytes);
    let (i, rep) = (p.len, p.rep);
    let operand_size = match (p.operand_size, io.code_operand_size) {
        (false, size) => size,
        (true, 2) => 4,
        (true, _) => 2,
    };
    let Some(&opcode) = bytes.get(i) else { return false };
    let tail = &bytes[i + 1..];
    let size = if opcode & 1 == 0 { 1 } else { operand_size };
    if size != io.size {
        return false;
    }
    let out = match opcode {
        0xE4 | 0xE5 | 0xEC | 0xED | 0x6C | 0x6D => false,
        0xE6 | 0xE7 | 0xEE | 0xEF | 0x6E | 0x6F => true,
        _ => return false,
    };
    if out != io.out {
        return false;
    }
    match opcode {
        // An 8-bit port is part of the instruction: it must be this exit's port.
        0xE4..=0xE7 => !rep && tail == [io.port as u8] && io.port <= 0xFF,
        0xEC..=0xEF => !rep && tail.is_empty(),
        _ => tail.is_empty(),
    }
}

/// How far back the exiting instruction starts when `rule` says RIP is past it: the length
/// of the I/O instruction that ends just before RIP, given the (up to 4) bytes before RIP.
/// 0 when RIP is at the instruction, or when no I/O instruction ends there (a `rep` string
/// instruction still in progress keeps RIP at itself).
// [tour:bytes-back]
pub fn bytes_back(rule: IoRipRule, io: &IoAccess, before: &[u8]) -> u64 {
    let after = if io.out { rule.out_after } else { rule.in_after };
    if !after {
        return 0;
    }
    // Shortest first: a byte before the opcode may belong to the previous instruction (the
    // 0x66 of `mov al, 0x66`), so a prefix is only taken when the access size needs it...
    for len in 1..=before.len().min(4) {
        let start = before.len() - len;
        if matches(&before[start..], io) {
            // ...or when it is the `rep` of a string instruction, far more common than a
            // string instruction after a stray 0xF3 byte.
            let string = matches!(before[before.len() - 1], 0x6C..=0x6F);
            let rep = start > 0 && before[start - 1] == 0xF3;
            return (len + usize::from(string && rep)) as u64;
        }
    }
    0
}
// [/tour:bytes-back]

/// The rule for this exit when it was not measured: RIP is at the instruction if the bytes
/// at RIP are an I/O instruction of this exit (`at`, None when unreadable), and past it if
/// one ends just before RIP. The bytes are ambiguous only for back-to-back identical I/O
/// instructions; then mainline KVM's rule is the guess.
pub fn guess_rule(io: &IoAccess, before: &[u8], at: Option<&[u8]>) -> IoRipRule {
    let at_rip = at.is_some_and(|at| (1..=at.len()).any(|len| matches(&at[..len], io)));
    let after = !at_rip && bytes_back(EITHER_AFTER, io, before) > 0;
    IoRipRule { out_after: after && io.out, in_after: after && !io.out }
}

const EITHER_AFTER: IoRipRule = IoRipRule { out_after: true, in_after: true };

/// The guest-physical address of a guest-linear one: itself with paging off, else
/// KVM_TRANSLATE through the vCPU's page tables (`None` where nothing is mapped).
pub fn guest_physical(vcpu: &Vcpu, sregs: &kvm_sregs, linear: u64) -> Option<u64> {
    if sregs.cr0 & crate::x86::CR0_PG == 0 {
        return Some(linear);
    }
    vcpu.translate(linear).ok().filter(|t| t.valid != 0).map(|t| t.physical_address)
}

/// `regs` with RIP moved back to the I/O instruction that made exit `io` (out, port, size),
/// where this host reports it after the instruction: `rule` as measured (`--trace`, `--gdb`),
/// else guessed from the bytes around RIP.
pub fn at_io_instruction(
    vcpu: &Vcpu,
    memory: &GuestMemory,
    rule: Option<IoRipRule>,
    mut regs: kvm_regs,
    sregs: &kvm_sregs,
    (out, port, size): (bool, u16, u8),
) -> kvm_regs {
    let code = CodeSize::of(&sregs.cs);
    let ip = regs.rip & code.ip_mask();
    let operand = if code == CodeSize::Bits16 { 2 } else { 4 };
    let access = IoAccess { out, port, size, code_operand_size: operand };
    let linear_rip = crate::x86::linear_pc(&regs, sregs);
    let physical = |linear: u64| guest_physical(vcpu, sregs, linear);
    let Some(last) = linear_rip.checked_sub(1) else { return regs };
    let Some(last_physical) = physical(last) else { return regs };
    // Up to 4 bytes before RIP, not past the start of the segment or of the page.
    let n = ip.min(4).min((last & 0xFFF) + 1);
    let mut bytes = [0u8; 4];
    let before = &mut bytes[..n as usize];
    if memory.read(last_physical + 1 - n, before).is_err() {
        return regs;
    }
    let rule = rule.unwrap_or_else(|| {
        let mut at = [0u8; 4];
        let n = (0x1000 - (linear_rip & 0xFFF)).min(4) as usize;
        let readable = physical(linear_rip).is_some_and(|p| memory.read(p, &mut at[..n]).is_ok());
        guess_rule(&access, before, readable.then_some(&at[..n]))
    });
    regs.rip = regs.rip.wrapping_sub(bytes_back(rule, &access, before));
    regs
}

#[cfg(test)]
mod tests {
    use super::*;

    const AFTER: IoRipRule = IoRipRule { out_after: true, in_after: false };

    fn io(out: bool, port: u16, size: u8) -> IoAccess {
        IoAccess { out, port, size, code_operand_size: 2 }
    }

    #[test]
    fn mainline_kvm_needs_no_correction() {
        let rule = IoRipRule::AT_INSTRUCTION;
        assert_eq!(bytes_back(rule, &io(true, 0x500, 1), &[0xB0, 0x01, 0xEE]), 0);
    }

    #[test]
    fn out_dx_al_is_one_byte_back() {
        // mov dx, 0x500 ; out dx, al
        let before = [0xBA, 0x00, 0x05, 0xEE];
        assert_eq!(bytes_back(AFTER, &io(true, 0x500, 1), &before), 1);
    }

    #[test]
    fn out_imm8_is_two_bytes_back_and_needs_the_port() {
        let before = [0x90, 0x90, 0xE6, 0x80];
        assert_eq!(bytes_back(AFTER, &io(true, 0x80, 1), &before), 2);
        // Another port: not this instruction.
        assert_eq!(bytes_back(AFTER, &io(true, 0x81, 1), &before), 0);
    }

    #[test]
    fn the_operand_size_prefix_decides_word_or_dword() {
        // 66 EF in 16-bit code: out dx, eax (4 bytes); a lone EF: out dx, ax.
        let before = [0x90, 0x90, 0x66, 0xEF];
        assert_eq!(bytes_back(AFTER, &io(true, 0x3F8, 4), &before), 2);
        assert_eq!(bytes_back(AFTER, &io(true, 0x3F8, 2), &before), 1);
        let mut in32 = io(true, 0x3F8, 4);
        in32.code_operand_size = 4;
        assert_eq!(bytes_back(AFTER, &in32, &[0x90, 0x90, 0x90, 0xEF]), 1);
    }

    #[test]
    fn direction_and_size_must_agree() {
        assert_eq!(bytes_back(AFTER, &io(true, 0x500, 2), &[0x90, 0xEE]), 0);
        // An `in` exit on this rule is never corrected.
        assert_eq!(bytes_back(AFTER, &io(false, 0x500, 1), &[0x90, 0xEC]), 0);
        let both = IoRipRule { out_after: true, in_after: true };
        assert_eq!(bytes_back(both, &io(false, 0x500, 1), &[0x90, 0xEC]), 1);
        assert_eq!(bytes_back(both, &io(false, 0x500, 1), &[0x90, 0xEE]), 0);
    }

    #[test]
    fn an_unmeasured_rule_is_read_from_the_bytes() {
        let out = io(true, 0x500, 1);
        // RIP at `out dx, al` (EE), after `mov dx, 0x500`: at.
        assert_eq!(
            guess_rule(&out, &[0xBA, 0x00, 0x05], Some(&[0xEE, 0xF4])),
            IoRipRule::AT_INSTRUCTION
        );
        // RIP at the `hlt` after it: past.
        let rule = guess_rule(&out, &[0x00, 0x05, 0xEE], Some(&[0xF4, 0x90]));
        assert!(rule.out_after && !rule.in_after);
        assert_eq!(bytes_back(rule, &out, &[0x00, 0x05, 0xEE]), 1);
        // Two identical `out`s in a row: mainline KVM's rule.
        assert_eq!(guess_rule(&out, &[0x05, 0xEE], Some(&[0xEE])), IoRipRule::AT_INSTRUCTION);
        assert_eq!(guess_rule(&out, &[0xEE], None), IoRipRule { out_after: true, in_after: false });
    }

    #[test]
    fn rep_string_forms_and_nothing_found() {
        assert_eq!(bytes_back(AFTER, &io(true, 0x3F8, 1), &[0x90, 0xF3, 0x6E]), 2);
        assert_eq!(bytes_back(AFTER, &io(true, 0x3F8, 1), &[0x90, 0x90, 0x90]), 0);
        assert_eq!(bytes_back(AFTER, &io(true, 0x3F8, 1), &[]), 0);
    }
}
