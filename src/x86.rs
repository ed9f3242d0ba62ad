//! x86 architectural bits the VMM sets or explains: control registers, EFER, RFLAGS.
//!
//! Intel SDM Vol. 3A: 2.5 "Control Registers" (CR0, CR4), 2.2.1 "Extended Feature Enable
//! Register" (EFER), Vol. 1 3.4.3 "EFLAGS Register". Only the bits mini-kvm uses or prints are
//! defined; each is pinned to its bit number by a test, because a wrong bit (kvm-hello-world's
//! CR4_OSFXSR, written as bit 8 instead of 9) compiles fine and fails silently.

use crate::kvm::bindings::{kvm_regs, kvm_segment, kvm_sregs};

/// CR0.PE: protected mode enable.
pub const CR0_PE: u64 = 1 << 0;
/// CR0.ET: extension type (hard-wired to 1 on every CPU since the 486).
pub const CR0_ET: u64 = 1 << 4;
/// CR0.NE: report x87 errors natively (#MF) rather than through IRQ 13.
pub const CR0_NE: u64 = 1 << 5;
/// CR0.WP: write protect, even for ring 0.
pub const CR0_WP: u64 = 1 << 16;
/// CR0.PG: paging enable.
pub const CR0_PG: u64 = 1 << 31;

/// CR4.PSE: 4 MiB pages in 32-bit paging.
pub const CR4_PSE: u64 = 1 << 4;
/// CR4.PAE: physical address extension (required for long mode).
pub const CR4_PAE: u64 = 1 << 5;
/// CR4.OSFXSR: the OS supports FXSAVE/FXRSTOR (and so SSE).
pub const CR4_OSFXSR: u64 = 1 << 9;
/// CR4.LA57: 5-level paging in long mode.
pub const CR4_LA57: u64 = 1 << 12;

/// EFER.LME: long mode enable (takes effect when paging is turned on).
pub const EFER_LME: u64 = 1 << 8;
/// EFER.LMA: long mode active (set by the CPU).
pub const EFER_LMA: u64 = 1 << 10;

/// RFLAGS bit 1 is reserved and always reads 1.
pub const RFLAGS_RESERVED1: u64 = 1 << 1;
/// RFLAGS.TF: trap after each instruction (single-step).
pub const RFLAGS_TF: u64 = 1 << 8;
/// RFLAGS.IF: maskable interrupts enabled.
pub const RFLAGS_IF: u64 = 1 << 9;

/// The names of CR0's bits, bit 0 first ("" for a reserved bit), as the register dump
/// (fault/mod.rs) and gdb's target description (gdb/target.rs) show them.
pub const CR0_BITS: &[&str] = &[
    "PE", "MP", "EM", "TS", "ET", "NE", "", "", "", "", "", "", "", "", "", "", "WP", "", "AM", "",
    "", "", "", "", "", "", "", "", "", "NW", "CD", "PG",
];

/// CR4's bits, bit 0 first.
#[rustfmt::skip]
pub const CR4_BITS: &[&str] = &[
    "VME", "PVI", "TSD", "DE", "PSE", "PAE", "MCE", "PGE", "PCE", "OSFXSR", "OSXMMEXCPT", "UMIP",
    "LA57", "", "", "", "FSGSBASE", "PCIDE", "OSXSAVE", "", "SMEP", "SMAP", "PKE",
];

/// EFER's bits, bit 0 first (SVME: AMD APM Vol. 2 3.1.7).
pub const EFER_BITS: &[&str] =
    &["SCE", "", "", "", "", "", "", "", "LME", "", "LMA", "NXE", "SVME"];

/// RFLAGS's status and control bits, bit 0 first. IOPL (bits 12-13) is a number, not a flag:
/// [`describe_rflags`] adds it, and gdb would print "IOPL=0" always.
pub const RFLAGS_BITS: &[&str] = &[
    "CF", "", "PF", "", "AF", "", "ZF", "SF", "TF", "IF", "DF", "OF", "", "", "NT", "", "RF", "VM",
    "AC", "VIF", "VIP", "ID",
];

/// The names of the bits set in `value`, `names[i]` naming bit i, separated by spaces ("" when
/// none is set): the one describer for every register mini-kvm explains (CR0, CR4, EFER and
/// RFLAGS here, the UART's LSR and MSR in trace.rs, page-table entries in gdb/monitor.rs).
pub fn bit_names(value: u64, names: &[&str]) -> String {
    let set = names.iter().enumerate().filter(|&(i, name)| !name.is_empty() && value >> i & 1 != 0);
    set.map(|(_, name)| *name).collect::<Vec<_>>().join(" ")
}

/// A register's set bits, "-" for none.
pub fn describe(value: u64, names: &[&str]) -> String {
    let set = bit_names(value, names);
    if set.is_empty() {
        "-".to_string()
    } else {
        set
    }
}

/// CR0's set bits by name, e.g. `0x80000011` -> `"PE ET PG"`.
pub fn describe_cr0(cr0: u64) -> String {
    describe(cr0, CR0_BITS)
}

/// CR4's set bits by name.
pub fn describe_cr4(cr4: u64) -> String {
    describe(cr4, CR4_BITS)
}

/// EFER's set bits by name.
pub fn describe_efer(efer: u64) -> String {
    describe(efer, EFER_BITS)
}

/// RFLAGS's status and control bits by name, plus the I/O privilege level.
pub fn describe_rflags(rflags: u64) -> String {
    let mut s = describe(rflags, RFLAGS_BITS);
    let iopl = (rflags >> 12) & 3;
    if iopl != 0 {
        s.push_str(&format!(" IOPL={iopl}"));
    }
    s
}

/// The legacy prefixes of the instructions mini-kvm decodes (port I/O, for exit_address.rs;
/// the faulting instruction, for fault/decode.rs): 66, operand size (16 <-> 32 bits), and F3,
/// rep (Intel SDM Vol. 2A, 2.1.1 "Instruction Prefixes"). A repeated prefix counts once.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prefixes {
    /// How many prefix bytes come before the opcode.
    pub len: usize,
    /// 66 seen: the other operand size than the code's default.
    pub operand_size: bool,
    /// F3 seen.
    pub rep: bool,
}

/// The 66/F3 prefixes `bytes` start with.
pub fn prefixes(bytes: &[u8]) -> Prefixes {
    let mut p = Prefixes::default();
    while let Some(&b) = bytes.get(p.len).filter(|b| matches!(**b, 0x66 | 0xF3)) {
        p.operand_size |= b == 0x66;
        p.rep |= b == 0xF3;
        p.len += 1;
    }
    p
}

/// The size of the code running, from the code segment's hidden attributes (SDM Vol. 3A
/// 5.2.1): CS.L selects 64-bit code (only meaningful with EFER.LMA), CS.D/B 32-bit; in real
/// mode KVM keeps D/B clear, so real mode is 16-bit code.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CodeSize {
    /// Real mode (or a 16-bit protected-mode segment): linear = CS.base + IP.
    Bits16,
    /// 32-bit protected or compatibility mode: linear = CS.base + EIP.
    Bits32,
    /// 64-bit mode: CS.base is ignored, linear = RIP.
    #[default]
    Bits64,
}

impl CodeSize {
    pub fn of(cs: &kvm_segment) -> CodeSize {
        if cs.l != 0 {
            CodeSize::Bits64
        } else if cs.db != 0 {
            CodeSize::Bits32
        } else {
            CodeSize::Bits16
        }
    }

    /// The bits of RIP the instruction pointer has at this size.
    pub fn ip_mask(self) -> u64 {
        match self {
            CodeSize::Bits16 => 0xFFFF,
            CodeSize::Bits32 => 0xFFFF_FFFF,
            CodeSize::Bits64 => u64::MAX,
        }
    }

    /// The linear address `rip` stands for in a code segment at `cs_base`. Linear addresses
    /// outside 64-bit mode are 32 bits and wrap (SDM Vol. 3A 3.4).
    pub fn linear(self, cs_base: u64, rip: u64) -> u64 {
        let ip = rip & self.ip_mask();
        match self {
            CodeSize::Bits64 => ip,
            _ => cs_base.wrapping_add(ip) & 0xFFFF_FFFF,
        }
    }
}

/// The linear address of the vCPU's next instruction: the one rule used for breakpoints,
/// gdb's pc and the bytes read around RIP.
pub fn linear_pc(regs: &kvm_regs, sregs: &kvm_sregs) -> u64 {
    CodeSize::of(&sregs.cs).linear(sregs.cs.base, regs.rip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits_are_where_the_sdm_puts_them() {
        // Vol. 3A, Figure 2-7 (CR0) and 2-8 (CR4); Table 2-1 (EFER); Vol. 1 Figure 3-8 (EFLAGS).
        assert_eq!(CR0_PE.trailing_zeros(), 0);
        assert_eq!(CR0_ET.trailing_zeros(), 4);
        assert_eq!(CR0_NE.trailing_zeros(), 5);
        assert_eq!(CR0_WP.trailing_zeros(), 16);
        assert_eq!(CR0_PG.trailing_zeros(), 31);
        assert_eq!(CR4_PSE.trailing_zeros(), 4);
        assert_eq!(CR4_PAE.trailing_zeros(), 5);
        assert_eq!(CR4_OSFXSR.trailing_zeros(), 9, "not 8: that is CR4.PCE");
        assert_eq!(CR4_LA57.trailing_zeros(), 12);
        assert_eq!(EFER_LME.trailing_zeros(), 8);
        assert_eq!(EFER_LMA.trailing_zeros(), 10);
        assert_eq!(RFLAGS_TF.trailing_zeros(), 8);
        assert_eq!(RFLAGS_IF.trailing_zeros(), 9);
    }

    #[test]
    fn registers_decode_to_names() {
        assert_eq!(describe_cr0(0x8000_0011), "PE ET PG");
        assert_eq!(describe_cr0(0x10), "ET");
        assert_eq!(describe_cr4(CR4_PAE), "PAE");
        assert_eq!(describe_efer(0x500), "LME LMA");
        assert_eq!(describe_efer(0), "-");
        assert_eq!(describe_rflags(0x3202), "IF IOPL=3");
        assert_eq!(describe_rflags(0x46), "PF ZF");
        assert_eq!(describe_rflags(0x24_0002), "AC ID");
        assert_eq!(describe_cr4(1 << 20 | 1 << 21), "SMEP SMAP");
        assert_eq!(describe(1 << 63 | 1, &["P"]), "P", "bits past the table have no name");
    }

    #[test]
    fn prefixes_count_once_and_stop_at_the_opcode() {
        assert_eq!(prefixes(&[0xEF]), Prefixes::default());
        let p = prefixes(&[0x66, 0xF3, 0x66, 0x6F]);
        assert_eq!((p.len, p.operand_size, p.rep), (3, true, true));
        assert_eq!(prefixes(&[0x66, 0x66]).len, 2);
    }
}
