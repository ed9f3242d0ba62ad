//! Unit tests for registers.rs (kept apart so the module reads on its own).
use super::super::registers;
use super::*;
use crate::gdb::packet::hex_decode;

/// A real-mode vCPU at 0x4000:0x0005, as KVM reports it.
fn real_mode() -> (kvm_regs, kvm_sregs) {
    let r = kvm_regs {
        rax: 0x1111,
        rbx: 0x2222,
        rsp: 0x7000,
        rip: 0x0005,
        rflags: 0x202,
        r15: 0xF15,
        ..Default::default()
    };
    let mut s = kvm_sregs::default();
    s.cs.selector = 0x4000;
    s.cs.base = 0x40000;
    s.cr0 = 0x10;
    (r, s)
}

/// A 64-bit kernel: CS.L set, paging on.
fn long_mode() -> (kvm_regs, kvm_sregs) {
    let r = kvm_regs {
        rax: 0x0123_4567_89ab_cdef,
        rcx: 3,
        rsp: 0xffff_8000_0000_7000,
        rbp: 0xffff_8000_0000_7ff0,
        rip: 0xffff_ffff_8010_0000,
        rflags: 0x246,
        r15: 0xF15,
        ..Default::default()
    };
    let mut s = kvm_sregs::default();
    s.cs.selector = 0x08;
    s.cs.l = 1;
    s.ss.selector = 0x10;
    s.gs.base = 0xffff_8000_0001_0000;
    (s.cr0, s.cr3, s.cr4, s.efer) = (0x8000_0011, 0x9000, 0x20, 0x500);
    (r, s)
}

/// The registers' bytes in a `g` reply, by register number.
fn g_fields(arch: Arch, regs: &Registers) -> Vec<Vec<u8>> {
    let bytes = hex_decode(regs.encode_g(arch).as_bytes()).unwrap();
    let mut at = 0;
    registers(arch)
        .iter()
        .map(|r| {
            at += r.bytes();
            bytes[at - r.bytes()..at].to_vec()
        })
        .collect()
}

fn number(arch: Arch, name: &str) -> usize {
    registers(arch).iter().position(|r| r.name == name).unwrap()
}

#[test]
fn real_mode_pc_is_linear_and_round_trips() {
    let (r, s) = real_mode();
    let regs = Registers::from_kvm(&r, &s);
    assert_eq!(regs.code, CodeSize::Bits16);
    assert_eq!(regs.pc, 0x40005, "CS.base + IP");
    let mut back = r;
    regs.to_kvm(&mut back);
    assert_eq!(back, r, "nothing changed, nothing moves");
    // gdb sets eip to a linear address: RIP becomes the offset in CS.
    let mut moved = regs.clone();
    let eip = number(Arch::I8086, "eip");
    moved.write_register(Arch::I8086, eip, &0x40010u32.to_le_bytes()).unwrap();
    moved.to_kvm(&mut back);
    assert_eq!(back.rip, 0x10);
}

#[test]
fn bits_above_ip_survive_writes_of_other_registers() {
    let (mut r, s) = real_mode();
    r.rip = 0x1_0005; // IP is 16 bits: gdb sees CS.base + 5
    let mut regs = Registers::from_kvm(&r, &s);
    assert_eq!(regs.pc, 0x40005);
    regs.write_register(Arch::I8086, 0, &[1, 0, 0, 0]).unwrap();
    let mut back = r;
    regs.to_kvm(&mut back);
    assert_eq!((back.rip, back.rax), (0x1_0005, 1));
}

#[test]
fn protected_mode_adds_the_cs_base_and_wraps_at_4_gib() {
    let (r, mut s) = real_mode();
    s.cs.db = 1;
    s.cs.base = 0xFFFF_F000;
    let mut kvm = r;
    kvm.rip = 0x2000;
    let regs = Registers::from_kvm(&kvm, &s);
    assert_eq!(regs.code, CodeSize::Bits32);
    assert_eq!(regs.pc, 0x1000);
    assert_eq!(regs.rip_for(0x1000), 0x2000);
}

#[test]
fn long_mode_pc_is_rip() {
    let (r, s) = long_mode();
    let regs = Registers::from_kvm(&r, &s);
    assert_eq!(regs.code, CodeSize::Bits64);
    assert_eq!(regs.pc, r.rip);
    assert_eq!(regs.bases[5], s.gs.base);
    assert_eq!(regs.selectors, [0x08, 0x10, 0, 0, 0, 0]);
}

#[test]
fn x86_64_g_packet_follows_gdbs_amd64_order() {
    let (r, s) = long_mode();
    let regs = Registers::from_kvm(&r, &s);
    let f = g_fields(Arch::X86_64, &regs);
    let le = |v: u64, n: usize| v.to_le_bytes()[..n].to_vec();
    assert_eq!(f[0], le(r.rax, 8), "rax first, little-endian");
    assert_eq!(f[2], le(3, 8), "rcx third");
    assert_eq!(f[6], le(r.rbp, 8), "rbp before rsp");
    assert_eq!(f[7], le(r.rsp, 8));
    assert_eq!(f[15], le(0xF15, 8), "r15");
    assert_eq!(f[16], le(r.rip, 8), "rip is register 16");
    assert_eq!(f[17], le(0x246, 4), "eflags is 32 bits");
    assert_eq!(f[18], le(0x08, 4), "cs");
    assert_eq!(f[19], le(0x10, 4), "ss");
    assert_eq!(f[24], vec![0; 10], "st0: 80 bits of zero");
    assert_eq!(f[number(Arch::X86_64, "mxcsr")], le(0x1F80, 4));
    assert_eq!(f[number(Arch::X86_64, "gs_base")], le(s.gs.base, 8));
    assert_eq!(f[number(Arch::X86_64, "cr3")], le(0x9000, 8));
    assert_eq!(f[number(Arch::X86_64, "efer")], le(0x500, 8));
    assert_eq!(number(Arch::X86_64, "st0"), 24);
    assert_eq!(number(Arch::X86_64, "xmm0"), 40, "after the 40 core registers");
    assert_eq!(regs.encode_g(Arch::X86_64).len(), 2 * g_packet_bytes(Arch::X86_64));
}

#[test]
fn i386_g_packet_follows_gdbs_i386_order() {
    let (r, s) = real_mode();
    let regs = Registers::from_kvm(&r, &s);
    for arch in [Arch::I386, Arch::I8086] {
        let f = g_fields(arch, &regs);
        assert_eq!(f[0], vec![0x11, 0x11, 0, 0], "eax");
        assert_eq!(f[3], vec![0x22, 0x22, 0, 0], "ebx fourth");
        assert_eq!(f[4], vec![0, 0x70, 0, 0], "esp fifth");
        assert_eq!(f[8], vec![0x05, 0, 4, 0], "eip = 0x40005");
        assert_eq!(f[10], vec![0, 0x40, 0, 0], "cs");
        assert_eq!(number(arch, "xmm0"), 32, "after the 32 core registers");
        assert_eq!(number(arch, "cr0"), 41, "xmm0-7 and mxcsr, no fs_base");
    }
    assert_eq!(regs.read_register(Arch::I8086, 4).unwrap(), "00700000");
    assert_eq!(regs.read_register(Arch::I8086, 8).unwrap(), "05000400");
    assert!(regs.read_register(Arch::I8086, 46).is_none());
    assert!(regs.read_register(Arch::X86_64, 999).is_none());
}

#[test]
fn g_writes_round_trip_and_bad_sizes_change_nothing() {
    let (r, s) = long_mode();
    let regs = Registers::from_kvm(&r, &s);
    let bytes = hex_decode(regs.encode_g(Arch::X86_64).as_bytes()).unwrap();
    let mut copy = regs.clone();
    copy.gpr = [0; 16];
    copy.pc = 0;
    copy.decode_g_into(Arch::X86_64, &bytes).unwrap();
    assert_eq!(copy, regs);
    assert!(copy.decode_g_into(Arch::X86_64, &bytes[1..]).is_err());
    assert!(copy.decode_g_into(Arch::I386, &bytes).is_err());
    assert_eq!(copy, regs);
}

#[test]
fn a_g_write_that_changes_a_read_only_register_changes_nothing() {
    let (r, s) = long_mode();
    let regs = Registers::from_kvm(&r, &s);
    let mut bytes = hex_decode(regs.encode_g(Arch::X86_64).as_bytes()).unwrap();
    bytes[0] = 0x99; // rax: allowed
    let cs = 16 * 8 + 8 + 4;
    bytes[cs] = 0x2b; // cs: read-only
    let mut copy = regs.clone();
    let err = copy.decode_g_into(Arch::X86_64, &bytes).unwrap_err();
    assert!(err.contains("cs"), "{err}");
    assert_eq!(copy, regs, "not even rax changed");
}

#[test]
fn p_writes_change_only_their_register() {
    let (r, s) = real_mode();
    let mut regs = Registers::from_kvm(&r, &s);
    let before = regs.clone();
    regs.write_register(Arch::I386, 0, &[0x78, 0x56, 0x34, 0x12]).unwrap();
    assert_eq!(regs.gpr[0], 0x1234_5678, "eax: the low half of rax");
    assert_eq!(regs.gpr[1..], before.gpr[1..]);
    assert!(regs.write_register(Arch::I386, 0, &[1]).is_err(), "size");
    assert!(regs.write_register(Arch::I386, 999, &[0; 4]).is_err());

    let (r, s) = long_mode();
    let mut regs = Registers::from_kvm(&r, &s);
    regs.gpr[0] = 0xFFFF_FFFF_0000_0000;
    regs.write_register(Arch::I386, 0, &[1, 0, 0, 0]).unwrap();
    assert_eq!(regs.gpr[0], 0xFFFF_FFFF_0000_0001, "a 32-bit view keeps the top");
    regs.write_register(Arch::X86_64, 17, &[0x02, 0x03, 0, 0]).unwrap();
    assert_eq!(regs.rflags, 0x302, "eflags");
}

#[test]
fn read_only_registers_accept_only_their_own_value() {
    let (r, s) = long_mode();
    let mut regs = Registers::from_kvm(&r, &s);
    let before = regs.clone();
    for name in ["cs", "st0", "xmm3", "mxcsr", "cr3", "efer", "fs_base"] {
        let n = number(Arch::X86_64, name);
        let current = hex_decode(regs.read_register(Arch::X86_64, n).unwrap().as_bytes()).unwrap();
        regs.write_register(Arch::X86_64, n, &current).unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut other = current.clone();
        other[0] ^= 1;
        let err = regs.write_register(Arch::X86_64, n, &other).unwrap_err();
        assert!(err.contains(name), "{err}");
    }
    assert_eq!(regs, before);
}
