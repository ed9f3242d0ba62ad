//! Unit tests for target.rs (kept apart so the module reads on its own).
use super::*;

fn reg_names(xml: &str) -> Vec<&str> {
    xml.split("<reg name=\"").skip(1).map(|s| &s[..s.find('"').unwrap()]).collect()
}

#[test]
fn the_document_lists_the_layout_in_order() {
    for arch in [Arch::X86_64, Arch::I386, Arch::I8086] {
        let xml = document(arch, "target.xml").unwrap();
        let names: Vec<&str> = registers(arch).iter().map(|r| r.name).collect();
        assert_eq!(reg_names(&xml), names, "{arch:?}");
        // Every bitsize is whole bytes, as the g packet assumes.
        assert!(registers(arch).iter().all(|r| r.bits % 8 == 0));
        assert!(xml.starts_with("<?xml") && xml.ends_with("</target>\n"));
        assert_eq!(xml.matches("<feature").count(), xml.matches("</feature>").count());
        assert_eq!(xml.matches("<flags").count(), xml.matches("</flags>").count());
        assert!(xml.contains("<osabi>none</osabi>"));
    }
    assert!(document(Arch::I386, "other.xml").is_none());
    assert!(document(Arch::X86_64, "").is_none());
}

#[test]
fn the_document_names_every_register_gdb_requires() {
    // gdb's i386_validate_tdesc_p wants these by name in the core and SSE features.
    let xml = document(Arch::X86_64, "target.xml").unwrap();
    let names = reg_names(&xml);
    let mut required = vec![
        "rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp", "r8", "r9", "r10", "r11", "r12",
        "r13", "r14", "r15", "rip", "eflags", "cs", "ss", "ds", "es", "fs", "gs",
    ];
    required.extend(ST);
    required.extend(X87_CONTROL);
    required.extend(XMM);
    required.push("mxcsr");
    assert_eq!(names[..required.len()], required[..]);
    assert!(xml.contains("<architecture>i386:x86-64</architecture>"));

    let xml = document(Arch::I8086, "target.xml").unwrap();
    let names = reg_names(&xml);
    let mut required = vec![
        "eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "eip", "eflags", "cs", "ss", "ds",
        "es", "fs", "gs",
    ];
    required.extend(ST);
    required.extend(X87_CONTROL);
    required.extend(&XMM[..8]);
    required.push("mxcsr");
    assert_eq!(names[..required.len()], required[..]);
    assert!(xml.contains("<architecture>i8086</architecture>"));
    let xml = document(Arch::I386, "target.xml").unwrap();
    assert!(xml.contains("<architecture>i386</architecture>"));
}

#[test]
fn flag_names_sit_on_the_sdm_bits() {
    let bit =
        |flags: &Flags, name: &str| 1u64 << flags.bits.iter().position(|b| *b == name).unwrap();
    use crate::x86::*;
    let sdm = [("CF", 0), ("PF", 2), ("AF", 4), ("ZF", 6), ("SF", 7), ("DF", 10), ("OF", 11)];
    for (name, n) in sdm {
        assert_eq!(bit(&EFLAGS, name), 1 << n, "{name}");
    }
    assert_eq!(bit(&EFLAGS, "TF"), RFLAGS_TF);
    assert_eq!(bit(&EFLAGS, "IF"), RFLAGS_IF);
    assert_eq!(bit(&EFLAGS, "ID"), 1 << 21);
    assert_eq!(bit(&CR0, "PE"), CR0_PE);
    assert_eq!(bit(&CR0, "MP"), 1 << 1);
    assert_eq!(bit(&CR0, "ET"), CR0_ET);
    assert_eq!(bit(&CR0, "NE"), CR0_NE);
    assert_eq!(bit(&CR0, "WP"), CR0_WP);
    assert_eq!(bit(&CR0, "PG"), CR0_PG);
    assert_eq!(bit(&CR4, "PSE"), CR4_PSE);
    assert_eq!(bit(&CR4, "PAE"), CR4_PAE);
    assert_eq!(bit(&CR4, "PGE"), 1 << 7);
    assert_eq!(bit(&CR4, "OSFXSR"), CR4_OSFXSR);
    assert_eq!(bit(&CR4, "OSXSAVE"), 1 << 18);
    assert_eq!(bit(&EFER, "SCE"), 1);
    assert_eq!(bit(&EFER, "LME"), EFER_LME);
    assert_eq!(bit(&EFER, "LMA"), EFER_LMA);
    assert_eq!(bit(&EFER, "NXE"), 1 << 11);
    assert_eq!(bit(&EFER, "SVME"), 1 << 12);
    for flags in [&EFLAGS, &CR0, &CR4, &EFER] {
        assert!(flags.bits.len() <= 32, "{}", flags.id);
    }
    // In the document, each named bit becomes a one-bit field.
    let xml = document(Arch::I386, "target.xml").unwrap();
    assert!(xml.contains("<field name=\"PG\" start=\"31\" end=\"31\"/>"));
    assert!(!xml.contains("<field name=\"\""), "unnamed bits are left out");
}
