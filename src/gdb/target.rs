//! Which registers gdb sees, in which order, and the target description that tells it so.
//!
//! Reference: gdb manual, appendix G "Target Descriptions": G.2 "Target Description Format"
//! (`<architecture>`, `<osabi>`, `<feature>`, `<reg>`, `<flags>`), G.4 "Predefined Target Types"
//! and G.5 "Standard Target Features" (i386: `org.gnu.gdb.i386.core` must name the general,
//! segment and x87 registers, `org.gnu.gdb.i386.sse` the XMM registers and MXCSR; gdb checks
//! them by name and refuses a description that lacks one). Appendix E.2 "Packets": `g` sends
//! every register in description order as little-endian hex, `p n` numbers them the same way.
//!
//! One table per architecture lists the registers in order; the XML sent to gdb, the `g`
//! packet and `p`/`P` numbers all come from that table, so they cannot disagree. Intel SDM
//! Vol. 3A 2.3 (EFLAGS), 2.5 (CR0, CR4) and 2.2.1 (EFER) give the bits described as `<flags>`,
//! which is why `info registers cr0` prints `[ PE ET PG ]` rather than a bare number.
//!
//! What is not real: the x87 and SSE registers (gdb insists on them) read as zero, MXCSR as its
//! reset value 0x1F80, because mini-kvm does not fetch the FPU state; writing them any other
//! value is refused. Segment and control registers are read-only too: a selector means nothing
//! without its descriptor, and CR0/CR4/EFER are the guest's to change.
//!
//! The values themselves live in [`Registers`] (registers.rs), which also says what gdb's pc
//! means outside 64-bit mode.

mod registers;
use crate::x86;
pub use registers::Registers;

/// Which gdb architecture (and register layout) a guest is shown as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arch {
    /// Long-mode (and Multiboot) guests: gdb's `i386:x86-64`, the 64-bit registers. A
    /// Multiboot kernel starts in 32-bit code; gdb keeps one architecture per session, so
    /// its first instructions, until the far jump to 64-bit code, disassemble wrongly.
    X86_64,
    /// 32-bit protected-mode guests: `i386`, the 32-bit registers.
    I386,
    /// Real-mode guests: `i8086` (16-bit disassembly) with the same 32-bit registers as i386.
    I8086,
}

impl Arch {
    fn gdb_name(self) -> &'static str {
        match self {
            Arch::X86_64 => "i386:x86-64",
            Arch::I386 => "i386",
            Arch::I8086 => "i8086",
        }
    }

    /// Width of the general and control registers in this layout.
    fn word_bits(self) -> u32 {
        if self == Arch::X86_64 {
            64
        } else {
            32
        }
    }
}

/// Where a register's value comes from in [`Registers`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    /// General register by kvm_regs order: rax rbx rcx rdx rsi rdi rsp rbp r8..r15.
    Gpr(usize),
    /// The linear address of the next instruction.
    Pc,
    Rflags,
    /// Segment selector by gdb's order: cs ss ds es fs gs.
    Selector(usize),
    /// Segment base, same order (only fs_base and gs_base are shown, as gdb names them).
    Base(usize),
    /// Control register: cr0 cr2 cr3 cr4 efer.
    Control(usize),
    /// x87/SSE state mini-kvm does not fetch: reads as zero.
    Zero,
    /// MXCSR: reads as its reset value.
    Mxcsr,
}

use Field::*;

struct Reg {
    name: &'static str,
    bits: u32,
    ty: &'static str,
    field: Field,
}

const fn reg(name: &'static str, bits: u32, ty: &'static str, field: Field) -> Reg {
    Reg { name, bits, ty, field }
}

impl Reg {
    fn bytes(&self) -> usize {
        (self.bits / 8) as usize
    }

    /// gdb may change these; the rest only read back what they hold.
    fn writable(&self) -> bool {
        matches!(self.field, Gpr(_) | Pc | Rflags)
    }
}

/// A `<flags>` type: the name of each bit, bit 0 first; "" for bits gdb should not show.
struct Flags {
    id: &'static str,
    bits: &'static [&'static str],
}

/// The `<flags>` types, with the bits' names from x86.rs (Intel SDM Vol. 1 3.4.3, Vol. 3A
/// 2.5 and 2.2.1).
const EFLAGS: Flags = Flags { id: "eflags_bits", bits: x86::RFLAGS_BITS };
const CR0: Flags = Flags { id: "cr0_bits", bits: x86::CR0_BITS };
const CR4: Flags = Flags { id: "cr4_bits", bits: x86::CR4_BITS };
const EFER: Flags = Flags { id: "efer_bits", bits: x86::EFER_BITS };

// gdb's register orders differ from KVM's (and from each other): amd64 puts rbp before rsp,
// i386 puts ecx and edx before ebx. The *_KVM_INDEX arrays say where each is in kvm_regs.
const AMD64_GPRS: [&str; 16] = [
    "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12", "r13",
    "r14", "r15",
];
const AMD64_KVM_INDEX: [usize; 16] = [0, 1, 2, 3, 4, 5, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];
const I386_GPRS: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];
const I386_KVM_INDEX: [usize; 8] = [0, 2, 3, 1, 6, 7, 4, 5];
const X87_CONTROL: [&str; 8] =
    ["fctrl", "fstat", "ftag", "fiseg", "fioff", "foseg", "fooff", "fop"];
const ST: [&str; 8] = ["st0", "st1", "st2", "st3", "st4", "st5", "st6", "st7"];
const XMM: [&str; 16] = [
    "xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10",
    "xmm11", "xmm12", "xmm13", "xmm14", "xmm15",
];
const SEGMENTS: [&str; 6] = ["cs", "ss", "ds", "es", "fs", "gs"];
const CONTROL: [&str; 5] = ["cr0", "cr2", "cr3", "cr4", "efer"];

/// The feature mini-kvm adds for the control registers (not a gdb standard, so gdb only shows it).
const CONTROL_FEATURE: &str = "org.mini-kvm.control";

struct Feature {
    name: &'static str,
    types: &'static [&'static Flags],
    regs: Vec<Reg>,
}

/// The registers of `arch`, in gdb's numbering, grouped by feature: gdb numbers them in the
/// order the features list them.
fn layout(arch: Arch) -> Vec<Feature> {
    let mut features = vec![core_feature(arch), sse_feature(arch)];
    if arch == Arch::X86_64 {
        features.push(segments_feature());
    }
    features.push(control_feature(arch));
    features
}

/// `org.gnu.gdb.i386.core`: the general registers, the program counter, EFLAGS, the segment
/// selectors and the x87 registers (always zero here: mini-kvm does not read the FPU state).
fn core_feature(arch: Arch) -> Feature {
    let word = arch.word_bits();
    let (names, kvm_index): (&[&str], &[usize]) = match arch {
        Arch::X86_64 => (&AMD64_GPRS, &AMD64_KVM_INDEX),
        Arch::I386 | Arch::I8086 => (&I386_GPRS, &I386_KVM_INDEX),
    };
    let mut core = Vec::new();
    for (&name, &i) in names.iter().zip(kvm_index) {
        let ty = match name {
            "rsp" | "rbp" | "esp" | "ebp" => "data_ptr",
            _ if word == 64 => "int64",
            _ => "int32",
        };
        core.push(reg(name, word, ty, Gpr(i)));
    }
    let pc = if arch == Arch::X86_64 { "rip" } else { "eip" };
    core.push(reg(pc, word, "code_ptr", Pc));
    core.push(reg("eflags", 32, EFLAGS.id, Rflags));
    for (i, name) in SEGMENTS.into_iter().enumerate() {
        core.push(reg(name, 32, "int32", Selector(i)));
    }
    core.extend(ST.map(|name| reg(name, 80, "i387_ext", Zero)));
    core.extend(X87_CONTROL.map(|name| reg(name, 32, "int", Zero)));
    Feature { name: "org.gnu.gdb.i386.core", types: &[&EFLAGS], regs: core }
}

/// `org.gnu.gdb.i386.sse`: XMM0-7 (XMM0-15 in 64-bit mode), zero like the x87 ones, and
/// MXCSR, part of the same gdb feature (read as its reset value).
fn sse_feature(arch: Arch) -> Feature {
    let xmm = if arch == Arch::X86_64 { 16 } else { 8 };
    let mut sse: Vec<Reg> = XMM[..xmm].iter().map(|name| reg(name, 128, "uint128", Zero)).collect();
    sse.push(reg("mxcsr", 32, "int", Mxcsr));
    Feature { name: "org.gnu.gdb.i386.sse", types: &[], regs: sse }
}

/// `org.gnu.gdb.i386.segments` (64-bit only): in long mode only FS and GS still have bases
/// (TLS, per-CPU data): gdb calls them $fs_base and $gs_base.
fn segments_feature() -> Feature {
    Feature {
        name: "org.gnu.gdb.i386.segments",
        types: &[],
        regs: vec![
            reg("fs_base", 64, "data_ptr", Base(4)),
            reg("gs_base", 64, "data_ptr", Base(5)),
        ],
    }
}

/// mini-kvm's own [`CONTROL_FEATURE`]: CR0, CR2, CR3, CR4 and EFER, the registers that say
/// which mode the guest is in. CR2 and CR3 are addresses (of the last page fault; of the top
/// page table): shown in hex.
fn control_feature(arch: Arch) -> Feature {
    let types = [CR0.id, "data_ptr", "data_ptr", CR4.id, EFER.id];
    Feature {
        name: CONTROL_FEATURE,
        types: &[&CR0, &CR4, &EFER],
        regs: CONTROL
            .into_iter()
            .zip(types)
            .enumerate()
            .map(|(i, (name, ty))| reg(name, arch.word_bits(), ty, Control(i)))
            .collect(),
    }
}

fn registers(arch: Arch) -> Vec<Reg> {
    layout(arch).into_iter().flat_map(|f| f.regs).collect()
}

/// The number of bytes a `g` reply carries (twice as many hex digits).
pub fn g_packet_bytes(arch: Arch) -> usize {
    registers(arch).iter().map(Reg::bytes).sum()
}

/// The target description gdb reads with `qXfer:features:read:target.xml`: one self-contained
/// document (no `<xi:include>`), so "target.xml" is the only annex; others are None.
pub fn document(arch: Arch, annex: &str) -> Option<String> {
    if annex != "target.xml" {
        return None;
    }
    // osabi "none": the guest is not a Linux process, and gdb would otherwise apply its host's
    // (GNU/Linux) conventions and warn that i8086 has none.
    let mut xml = format!(
        "<?xml version=\"1.0\"?>\n<!DOCTYPE target SYSTEM \"gdb-target.dtd\">\n<target>\n\
         <architecture>{}</architecture>\n<osabi>none</osabi>\n",
        arch.gdb_name()
    );
    for feature in layout(arch) {
        xml.push_str(&format!("<feature name=\"{}\">\n", feature.name));
        for flags in feature.types {
            let size = if flags.id == EFLAGS.id { 4 } else { arch.word_bits() / 8 };
            xml.push_str(&format!("  <flags id=\"{}\" size=\"{size}\">\n", flags.id));
            for (bit, name) in flags.bits.iter().enumerate() {
                if !name.is_empty() {
                    xml.push_str(&format!(
                        "    <field name=\"{name}\" start=\"{bit}\" end=\"{bit}\"/>\n"
                    ));
                }
            }
            xml.push_str("  </flags>\n");
        }
        for r in feature.regs {
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

#[cfg(test)]
mod tests;
