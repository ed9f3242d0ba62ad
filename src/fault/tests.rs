//! Unit tests of the crash report's parts that need no vCPU.

use super::*;

fn real_mode(cs: u16, ip: u64) -> (kvm_regs, kvm_sregs) {
    let regs = kvm_regs { rip: ip, ..Default::default() };
    let mut sregs = kvm_sregs::default();
    sregs.cs.selector = cs;
    sregs.cs.base = u64::from(cs) << 4;
    sregs.idt.limit = 0x3FF;
    (regs, sregs)
}

#[test]
fn real_mode_says_cs_ip_and_protected_mode_says_rip() {
    let (regs, mut sregs) = real_mode(0x4000, 0x1_0012);
    assert_eq!(location(&regs, &sregs), "CS:IP 4000:0012", "IP is 16 bits");
    sregs.cr0 = CR0_PE;
    sregs.cs.selector = 8;
    assert_eq!(location(&regs, &sregs), "RIP 0x10012 (CS 0x0008)");
}

#[test]
fn the_reset_state_is_recognised() {
    let (regs, mut sregs) = real_mode(0xF000, 0xFFF0);
    sregs.cs.base = 0xFFFF_0000;
    sregs.cr0 = 0x6000_0010;
    assert!(is_reset_state(&regs, &sregs));
    sregs.cr0 |= CR0_PE;
    assert!(!is_reset_state(&regs, &sregs));
    let (regs, sregs) = real_mode(0xF000, 0xFFF0);
    assert!(!is_reset_state(&regs, &sregs), "CS base 0xF0000: an ordinary far jump there");
}

#[test]
fn the_dump_names_the_bits_of_flags_and_control_registers() {
    let regs = kvm_regs { rflags: 0x202, rax: 0x1234, ..Default::default() };
    let sregs = kvm_sregs {
        cr0: 0x8000_0011,
        cr4: CR4_PAE,
        efer: EFER_LME | EFER_LMA,
        ..Default::default()
    };
    let dump = register_dump(&regs, &sregs);
    assert!(dump.starts_with("  RAX=0000000000001234 RBX=0000000000000000"), "{dump}");
    for line in [
        "CR0=80000011 [PE ET PG]",
        "CR4=00000020 [PAE]",
        "EFER=00000500 [LME LMA]",
        "RFLAGS=00000202 [IF]",
    ] {
        assert!(dump.contains(line), "{line} in:\n{dump}");
    }
    assert_eq!(dump.lines().count(), 14, "{dump}");
}

#[test]
fn a_real_mode_fault_at_a_vector_s_target_names_the_vector() {
    let memory = GuestMemory::new(2 << 20).expect("2 MiB of guest RAM");
    // The guest's own first bytes are the table: entry 6 (#UD) points at 0000:0018.
    let mut ivt = [0u8; 4 * 32];
    ivt[4 * 6..4 * 6 + 4].copy_from_slice(&[0x18, 0x00, 0x00, 0x00]);
    ivt[4 * 13..4 * 13 + 4].copy_from_slice(&[0x34, 0x12, 0x00, 0xF0]);
    memory.write(0, &ivt).expect("inside RAM");
    let (regs, sregs) = real_mode(0, 0x18);
    let lines = real_mode_vectors(&memory, &regs, &sregs);
    assert_eq!(lines.len(), 3, "{lines:#?}");
    assert!(lines[0].starts_with(
        "  real mode: an exception or `int n` jumps through the interrupt vector table at 0x0"
    ));
    assert_eq!(lines[1], "  the fault is where entry 6 points: the guest took vector 6, #UD (ud2), through that table and broke at the first instruction there");
    assert_eq!(
        lines[2],
        "  the table sends #UD (ud2) to 0000:0018, #GP to f000:1234, #DF to 0000:0000"
    );
    // Elsewhere: the table, but no vector named.
    let (regs, sregs) = real_mode(0, 0x40);
    assert_eq!(real_mode_vectors(&memory, &regs, &sregs).len(), 2);
}

#[test]
fn a_table_outside_ram_or_cut_short_reads_only_what_is_there() {
    let memory = GuestMemory::new(2 << 20).expect("2 MiB of guest RAM");
    let (regs, mut sregs) = real_mode(0, 0x18);
    sregs.idt.base = u64::MAX - 8;
    assert!(real_mode_vectors(&memory, &regs, &sregs).is_empty());
    sregs.idt.base = 0;
    sregs.idt.limit = 3; // one entry, #DE's: #UD, #GP and #DF are past the limit
    let lines = real_mode_vectors(&memory, &regs, &sregs);
    assert_eq!(lines.len(), 1, "no entry to name: {lines:#?}");
}
