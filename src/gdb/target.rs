//! What gdb sees of a vCPU: the register file, laid out as a target description says.
//!
//! Reference: gdb manual, appendix G "Target Descriptions" (G.2 format, G.5 standard features:
//! `org.gnu.gdb.i386.core` and `org.gnu.gdb.i386.sse`, which gdb requires by register name) and
//! E.2 (`g` sends every register in description order, little-endian hex).
//!
//! One table per architecture lists the registers in order; the XML sent to gdb, the `g`
//! packet and `p`/`P` register numbers all come from that table, so they cannot disagree.
//! Floating-point and SSE registers are listed (gdb insists) and read as zero: mini-kvm does not
//! fetch the FPU state. A custom feature adds the control registers, so `info registers cr3`
//! works. Real-mode guests are shown as i8086 with 32-bit registers; there `eip` is the linear
//! address CS.base + IP, so `x/i $pc` shows the right bytes whatever the vCPU's segment.

use crate::kvm::bindings::{kvm_regs, kvm_sregs};
use crate::x86::CR0_PE;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Long-mode (and Multiboot) guests: gdb's i386:x86-64.
    X86_64,
    /// Real-mode and 32-bit guests: i8086 (16-bit disassembly) with i386 registers.
    I386,
}

/// Where a register's value comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// General register by kvm_regs order: rax rbx rcx rdx rsi rdi rsp rbp r8..r15.
    Gpr(usize),
    Rip,
    Rflags,
    /// Segment selector: cs ss ds es fs gs.
    Segment(usize),
    /// Control register: cr0 cr2 cr3 cr4 efer.
    Control(usize),
    /// FPU/SSE state: reads as zero, writes are ignored.
    Zero,
    /// MXCSR: reads as its reset value.
    Mxcsr,
}

struct Reg {
    name: &'static str,
    bits: u32,
    ty: &'static str,
    field: Field,
}

const fn reg(name: &'static str, bits: u32, ty: &'static str, field: Field) -> Reg {
    Reg {
        name,
        bits,
        ty,
        field,
    }
}

use Field::*;

const X87_NAMES: [&str; 16] = [
    "st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7", "fctrl", "fstat", "ftag", "fiseg",
    "fioff", "foseg", "fooff", "fop",
];
const XMM_NAMES: [&str; 16] = [
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
    "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
];
const SEGMENTS: [&str; 6] = ["cs", "ss", "ds", "es", "fs", "gs"];
const CONTROL: [&str; 5] = ["cr0", "cr2", "cr3", "cr4", "efer"];

/// The registers of `arch`, in gdb's numbering, grouped by feature.
fn layout(arch: Arch) -> Vec<(&'static str, Vec<Reg>)> {
    let mut core = Vec::new();
    match arch {
        Arch::X86_64 => {
            // gdb's amd64 order: rax rbx rcx rdx rsi rdi rbp rsp r8-r15.
            let order = [
                (0, "rax"),
                (1, "rbx"),
                (2, "rcx"),
                (3, "rdx"),
                (4, "rsi"),
                (5, "rdi"),
                (7, "rbp"),
                (6, "rsp"),
            ];
            for (i, name) in order {
                let ty = if name == "rsp" || name == "rbp" {
                    "data_ptr"
                } else {
                    "int64"
                };
                core.push(reg(name, 64, ty, Gpr(i)));
            }
            for (i, name) in ["r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"]
                .iter()
                .enumerate()
            {
                core.push(reg(name, 64, "int64", Gpr(8 + i)));
            }
            core.push(reg("rip", 64, "code_ptr", Rip));
        }
        Arch::I386 => {
            // gdb's i386 order: eax ecx edx ebx esp ebp esi edi.
            let order = [
                (0, "eax"),
                (2, "ecx"),
                (3, "edx"),
                (1, "ebx"),
                (6, "esp"),
                (7, "ebp"),
                (4, "esi"),
                (5, "edi"),
            ];
            for (i, name) in order {
                core.push(reg(name, 32, "int32", Gpr(i)));
            }
            core.push(reg("eip", 32, "code_ptr", Rip));
        }
    }
    core.push(reg("eflags", 32, "int32", Rflags));
    for (i, name) in SEGMENTS.iter().enumerate() {
        core.push(reg(name, 32, "int32", Segment(i)));
    }
    for (i, name) in X87_NAMES.iter().enumerate() {
        core.push(if i < 8 {
            reg(name, 80, "i387_ext", Zero)
        } else {
            reg(name, 32, "int", Zero)
        });
    }
    let xmm = if arch == Arch::X86_64 { 16 } else { 8 };
    let mut sse: Vec<Reg> = XMM_NAMES[..xmm]
        .iter()
        .map(|n| reg(n, 128, "uint128", Zero))
        .collect();
    sse.push(reg("mxcsr", 32, "int", Mxcsr));
    let width = if arch == Arch::X86_64 { 64 } else { 32 };
    let control = CONTROL
        .iter()
        .enumerate()
        .map(|(i, n)| reg(n, width, "int", Control(i)))
        .collect();
    vec![
        ("org.gnu.gdb.i386.core", core),
        ("org.gnu.gdb.i386.sse", sse),
        ("org.mini-kvm.control", control),
    ]
}

fn registers(arch: Arch) -> Vec<Reg> {
    layout(arch)
        .into_iter()
        .flat_map(|(_, regs)| regs)
        .collect()
}

/// The target description document for `annex` ("target.xml"), or None.
pub fn document(arch: Arch, annex: &str) -> Option<String> {
    if annex != "target.xml" {
        return None;
    }
    let architecture = match arch {
        Arch::X86_64 => "i386:x86-64",
        Arch::I386 => "i8086",
    };
    let mut xml = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target>\n\
         <architecture>{architecture}</architecture>\n"
    );
    for (feature, regs) in layout(arch) {
        xml.push_str(&format!("<feature name=\"{feature}\">\n"));
        for r in regs {
            xml.push_str(&format!(
                "  <reg name=\"{}\" bitsize=\"{}\" type=\"{}\"/>\n",
                r.name, r.bits, r.ty
            ));
        }
        xml.push_str("</feature>\n");
    }
    xml.push_str("</target>\n");
    Some(xml)
}

/// A vCPU's registers as gdb sees them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Registers {
    /// kvm_regs order: rax rbx rcx rdx rsi rdi rsp rbp r8..r15.
    pub gpr: [u64; 16],
    pub rip: u64,
    pub rflags: u64,
    pub segments: [u16; 6],
    pub control: [u64; 5],
    /// Real mode: gdb's eip is CS.base + IP.
    pub cs_base: u64,
    pub real_mode: bool,
}

impl Registers {
    pub fn from_kvm(r: &kvm_regs, s: &kvm_sregs) -> Registers {
        let real_mode = s.cr0 & CR0_PE == 0;
        Registers {
            gpr: [
                r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp, r.r8, r.r9, r.r10, r.r11,
                r.r12, r.r13, r.r14, r.r15,
            ],
            rip: if real_mode {
                s.cs.base + (r.rip & 0xFFFF)
            } else {
                r.rip
            },
            rflags: r.rflags,
            segments: [
                s.cs.selector,
                s.ss.selector,
                s.ds.selector,
                s.es.selector,
                s.fs.selector,
                s.gs.selector,
            ],
            control: [s.cr0, s.cr2, s.cr3, s.cr4, s.efer],
            cs_base: s.cs.base,
            real_mode,
        }
    }

    /// Writes back what gdb may change: general registers, RIP and RFLAGS. Segment and
    /// control registers stay as they are: changing a selector without its descriptor would
    /// only confuse the guest.
    pub fn to_kvm(&self, r: &mut kvm_regs) {
        let g = &self.gpr;
        (r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp) =
            (g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]);
        (r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15) =
            (g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
        r.rip = if self.real_mode {
            self.rip.wrapping_sub(self.cs_base) & 0xFFFF
        } else {
            self.rip
        };
        r.rflags = self.rflags;
    }

    fn get(&self, field: Field) -> u64 {
        match field {
            Gpr(i) => self.gpr[i],
            Rip => self.rip,
            Rflags => self.rflags,
            Segment(i) => u64::from(self.segments[i]),
            Control(i) => self.control[i],
            Zero => 0,
            Mxcsr => 0x1F80,
        }
    }

    fn set(&mut self, field: Field, value: u64, bits: u32) {
        match field {
            Gpr(i) if bits == 32 => self.gpr[i] = (self.gpr[i] & !0xFFFF_FFFF) | value,
            Gpr(i) => self.gpr[i] = value,
            Rip => self.rip = value,
            Rflags => self.rflags = value,
            Segment(_) | Control(_) | Zero | Mxcsr => {}
        }
    }

    fn encode_reg(&self, r: &Reg, out: &mut Vec<u8>) {
        let bytes = (r.bits / 8) as usize;
        let value = self.get(r.field).to_le_bytes();
        out.extend((0..bytes).map(|i| value.get(i).copied().unwrap_or(0)));
    }

    /// The `g` reply: every register, in order, as little-endian hex.
    pub fn encode_g(&self, arch: Arch) -> String {
        let mut bytes = Vec::new();
        for r in registers(arch) {
            self.encode_reg(&r, &mut bytes);
        }
        super::packet::hex_encode(&bytes)
    }

    /// Applies a `G` packet's (decoded) bytes.
    pub fn decode_g_into(&mut self, arch: Arch, bytes: &[u8]) -> Result<(), String> {
        let regs = registers(arch);
        let total: usize = regs.iter().map(|r| (r.bits / 8) as usize).sum();
        if bytes.len() != total {
            return Err(format!(
                "G packet has {} bytes, expected {total}",
                bytes.len()
            ));
        }
        let mut at = 0;
        for r in regs {
            let n = (r.bits / 8) as usize;
            let mut value = [0u8; 8];
            let take = n.min(8);
            value[..take].copy_from_slice(&bytes[at..at + take]);
            self.set(r.field, u64::from_le_bytes(value), r.bits);
            at += n;
        }
        Ok(())
    }

    /// The `p n` reply, or None for a register number the layout does not have.
    pub fn read_register(&self, arch: Arch, n: usize) -> Option<String> {
        let regs = registers(arch);
        let r = regs.get(n)?;
        let mut bytes = Vec::new();
        self.encode_reg(r, &mut bytes);
        Some(super::packet::hex_encode(&bytes))
    }

    /// `P n=value` (value already decoded from hex).
    pub fn write_register(&mut self, arch: Arch, n: usize, bytes: &[u8]) -> Result<(), String> {
        let regs = registers(arch);
        let r = regs.get(n).ok_or("no such register")?;
        if bytes.len() != (r.bits / 8) as usize {
            return Err("wrong register size".into());
        }
        let mut value = [0u8; 8];
        let take = bytes.len().min(8);
        value[..take].copy_from_slice(&bytes[..take]);
        self.set(r.field, u64::from_le_bytes(value), r.bits);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (kvm_regs, kvm_sregs) {
        let r = kvm_regs {
            rax: 0x1111,
            rbx: 0x2222,
            rsp: 0x7000,
            rip: 0x0005,
            rflags: 0x2,
            r15: 0xF15,
            ..Default::default()
        };
        let mut s = kvm_sregs::default();
        s.cs.selector = 0x4000;
        s.cs.base = 0x40000;
        (r, s)
    }

    #[test]
    fn real_mode_eip_is_linear_and_round_trips() {
        let (r, s) = sample();
        let regs = Registers::from_kvm(&r, &s);
        assert!(regs.real_mode);
        assert_eq!(regs.rip, 0x40005);
        let mut back = r;
        back.rip = 0;
        regs.to_kvm(&mut back);
        assert_eq!(back, r);
    }

    #[test]
    fn g_packets_follow_the_layout() {
        let (r, mut s) = sample();
        s.cr0 = CR0_PE;
        s.cs.base = 0;
        let regs = Registers::from_kvm(&r, &s);
        let g = regs.encode_g(Arch::X86_64);
        // rax first, little-endian, 8 bytes.
        assert!(g.starts_with("1111000000000000"));
        // rip is register 16 (16 GPRs before it).
        assert_eq!(
            regs.read_register(Arch::X86_64, 16).unwrap(),
            "0500000000000000"
        );
        assert_eq!(
            regs.read_register(Arch::X86_64, 7).unwrap(),
            "0070000000000000",
            "rsp"
        );
        // The i386 layout puts ecx second and esp fifth.
        assert_eq!(
            regs.read_register(Arch::I386, 4).unwrap(),
            "00700000",
            "esp"
        );
        assert_eq!(
            regs.read_register(Arch::I386, 8).unwrap(),
            "05000000",
            "eip"
        );
        assert!(regs.read_register(Arch::X86_64, 999).is_none());
        // G writes come back identical.
        let bytes = super::super::packet::hex_decode(g.as_bytes()).unwrap();
        let mut copy = Registers::default();
        copy.decode_g_into(Arch::X86_64, &bytes).unwrap();
        assert_eq!(copy.gpr, regs.gpr);
        assert_eq!(copy.rip, regs.rip);
        assert!(copy.decode_g_into(Arch::X86_64, &bytes[1..]).is_err());
    }

    #[test]
    fn p_writes_change_only_their_register() {
        let (r, s) = sample();
        let mut regs = Registers::from_kvm(&r, &s);
        regs.write_register(Arch::I386, 0, &[0x78, 0x56, 0x34, 0x12])
            .unwrap();
        assert_eq!(regs.gpr[0], 0x1234_5678, "eax: the low half of rax");
        assert!(regs.write_register(Arch::I386, 0, &[1]).is_err());
        regs.write_register(Arch::X86_64, 24, &[0; 10]).unwrap(); // st0: ignored
        assert_eq!(regs.gpr[1], 0x2222);
    }

    #[test]
    fn the_document_names_every_register_gdb_requires() {
        let xml = document(Arch::X86_64, "target.xml").unwrap();
        for name in [
            "rax", "rip", "eflags", "gs", "st7", "fop", "xmm15", "mxcsr", "cr3", "efer",
        ] {
            assert!(xml.contains(&format!("name=\"{name}\"")), "{name}");
        }
        assert!(xml.contains("<architecture>i386:x86-64</architecture>"));
        let xml = document(Arch::I386, "target.xml").unwrap();
        assert!(xml.contains("<architecture>i8086</architecture>") && xml.contains("name=\"eip\""));
        assert!(document(Arch::I386, "other.xml").is_none());
    }
}
