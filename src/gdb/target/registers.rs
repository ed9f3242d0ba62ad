//! The register file gdb reads and writes, and how it maps to KVM's `kvm_regs`/`kvm_sregs`.
//!
//! Reference: gdb manual, appendix E.2 "Packets" (`g`, `G`, `p`, `P`: registers in description
//! order, little-endian hex); kernel Documentation/virt/kvm/api.rst 4.11-4.14 (KVM_GET_REGS,
//! KVM_GET_SREGS and their structures); Intel SDM Vol. 3A 3.4 (segment bases, linear addresses)
//! and 5.2.1 (the CS.L and CS.D bits that say how big the code is).
//!
//! `pc` is always a *linear* address, the one memory is read at and breakpoints compare with
//! (KVM's `debug.arch.pc` is linear as well). In 64-bit code that is RIP. Outside it gdb's
//! `eip` is CS.base + EIP, or CS.base + IP in 16-bit code: a real-mode guest at 0x0100:0x0005
//! shows `eip = 0x1005`, so `x/i $pc` and `break *0x1005` mean the same bytes whatever CS is.
//! `esp` and the other registers are shown as they are (SS.base is not added).
//!
//! Which registers exist, in which order and size, is target.rs's table; this file only holds
//! values and answers for one register at a time.

use super::Field::{self, *};
use super::{g_packet_bytes, registers, Arch, Reg};
use crate::gdb::packet::{from_le, hex_encode};
use crate::kvm::bindings::{kvm_regs, kvm_sregs};
pub use crate::x86::CodeSize;

/// A vCPU's registers as gdb sees them, whatever the layout gdb was told.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registers {
    /// kvm_regs order: rax rbx rcx rdx rsi rdi rsp rbp r8..r15.
    pub gpr: [u64; 16],
    /// Linear address of the next instruction (see the module comment), not KVM's RIP.
    pub pc: u64,
    pub rflags: u64,
    /// Selectors by gdb's order: cs ss ds es fs gs.
    pub selectors: [u16; 6],
    /// The hidden bases of the same segments.
    pub bases: [u64; 6],
    /// cr0 cr2 cr3 cr4 efer.
    pub control: [u64; 5],
    pub code: CodeSize,
}

impl Registers {
    /// The linear address RIP stands for in the current code segment (x86.rs's one rule).
    fn linear(&self, rip: u64) -> u64 {
        self.code.linear(self.bases[0], rip)
    }

    /// The RIP that makes the next instruction's linear address `pc`.
    fn rip_for(&self, pc: u64) -> u64 {
        match self.code {
            CodeSize::Bits64 => pc,
            _ => pc.wrapping_sub(self.bases[0]) & self.code.ip_mask(),
        }
    }

    pub fn from_kvm(r: &kvm_regs, s: &kvm_sregs) -> Registers {
        let code = CodeSize::of(&s.cs);
        let segments = [s.cs, s.ss, s.ds, s.es, s.fs, s.gs];
        let mut regs = Registers {
            gpr: [
                r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10, r.r11,
                r.r12, r.r13, r.r14, r.r15,
            ],
            pc: 0,
            rflags: r.rflags,
            selectors: segments.map(|seg| seg.selector),
            bases: segments.map(|seg| seg.base),
            control: [s.cr0, s.cr2, s.cr3, s.cr4, s.efer],
            code,
        };
        regs.pc = regs.linear(r.rip);
        regs
    }

    /// Writes back what gdb may change: general registers, RIP (from pc) and RFLAGS. RIP is
    /// only rewritten when pc moved, so bits the linear view hides (above IP in real mode)
    /// survive a write of some other register.
    pub fn to_kvm(&self, r: &mut kvm_regs) {
        let g = &self.gpr;
        (r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp) =
            (g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]);
        (r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15) =
            (g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
        if self.linear(r.rip) != self.pc {
            r.rip = self.rip_for(self.pc);
        }
        r.rflags = self.rflags;
    }

    fn get(&self, field: Field) -> u64 {
        match field {
            Gpr(i) => self.gpr[i],
            Pc => self.pc,
            Rflags => self.rflags,
            Selector(i) => u64::from(self.selectors[i]),
            Base(i) => self.bases[i],
            Control(i) => self.control[i],
            Zero => 0,
            Mxcsr => 0x1F80,
        }
    }

    /// Stores `value` into a writable field; a 32-bit view of a 64-bit register keeps the
    /// upper half, as a 32-bit `mov` to EAX would not (but gdb showed only the lower half).
    fn set(&mut self, field: Field, value: u64, bits: u32) {
        let keep = if bits >= 64 { 0 } else { u64::MAX << bits };
        let slot = match field {
            Gpr(i) => &mut self.gpr[i],
            Pc => &mut self.pc,
            Rflags => &mut self.rflags,
            Selector(_) | Base(_) | Control(_) | Zero | Mxcsr => return,
        };
        *slot = (*slot & keep) | value;
    }

    fn encode_reg(&self, r: &Reg) -> Vec<u8> {
        let value = self.get(r.field).to_le_bytes();
        (0..r.bytes()).map(|i| value.get(i).copied().unwrap_or(0)).collect()
    }

    /// Checks one register's new bytes: the right size, and for a read-only register the
    /// value it already has (gdb writes every register back after an inferior call).
    fn check(&self, r: &Reg, bytes: &[u8]) -> Result<(), String> {
        if bytes.len() != r.bytes() {
            return Err(format!("{} takes {} bytes, not {}", r.name, r.bytes(), bytes.len()));
        }
        if !r.writable() && self.encode_reg(r) != bytes {
            return Err(format!("{} is read-only here", r.name));
        }
        Ok(())
    }

    fn store(&mut self, r: &Reg, bytes: &[u8]) {
        if r.writable() {
            self.set(r.field, from_le(bytes), r.bits);
        }
    }

    /// The `g` reply: every register, in order, as little-endian hex.
    pub fn encode_g(&self, arch: Arch) -> String {
        let bytes: Vec<u8> = registers(arch).iter().flat_map(|r| self.encode_reg(r)).collect();
        hex_encode(&bytes)
    }

    /// Applies a `G` packet's (hex-decoded) bytes: all of them, or, on any error, none.
    pub fn decode_g_into(&mut self, arch: Arch, bytes: &[u8]) -> Result<(), String> {
        let expected = g_packet_bytes(arch);
        if bytes.len() != expected {
            return Err(format!("G packet has {} bytes, expected {expected}", bytes.len()));
        }
        let regs = registers(arch);
        let mut at = 0;
        for r in &regs {
            self.check(r, &bytes[at..at + r.bytes()])?;
            at += r.bytes();
        }
        let mut at = 0;
        for r in &regs {
            self.store(r, &bytes[at..at + r.bytes()]);
            at += r.bytes();
        }
        Ok(())
    }

    /// The `p n` reply (hex), or None for a register number the layout does not have.
    pub fn read_register(&self, arch: Arch, n: usize) -> Option<String> {
        registers(arch).get(n).map(|r| hex_encode(&self.encode_reg(r)))
    }

    /// `P n=value` (value already decoded from hex).
    pub fn write_register(&mut self, arch: Arch, n: usize, bytes: &[u8]) -> Result<(), String> {
        let regs = registers(arch);
        let r = regs.get(n).ok_or(format!("no register {n}"))?;
        self.check(r, bytes)?;
        self.store(r, bytes);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
