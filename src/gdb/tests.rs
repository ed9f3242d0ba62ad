//! Unit tests for mod.rs: `--gdb`'s value, and the register layout a boot's first state gets.
use super::*;

#[test]
fn the_port_is_a_number_or_a_colon_and_a_number() {
    assert_eq!(parse_port("1234").ok(), Some(1234));
    assert_eq!(parse_port(":4321").ok(), Some(4321));
    assert_eq!(parse_port("0").ok(), Some(0));
    for bad in ["x", "65536", "-1", "", "12 34"] {
        match parse_port(bad) {
            Err(Ending::Usage(text)) => assert!(text.contains(&format!("'{bad}'")), "{text}"),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
}

#[test]
fn the_register_layout_follows_the_mode_the_guest_starts_in() {
    let sregs = |cr0: u64, efer: u64| kvm_sregs { cr0, efer, ..Default::default() };
    assert_eq!(arch_of(&sregs(0x10, 0)), Arch::I8086, "real mode");
    assert_eq!(arch_of(&sregs(CR0_PE | CR0_PG, 0)), Arch::I386, "32-bit paging");
    assert_eq!(arch_of(&sregs(CR0_PE, 0)), Arch::X86_64, "Multiboot: paging off");
    assert_eq!(arch_of(&sregs(CR0_PE | CR0_PG, EFER_LMA)), Arch::X86_64, "long mode");
}
