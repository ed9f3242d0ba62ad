//! Unit tests for monitor.rs: commands parsed, and walks of hand-built tables in words.
use super::*;
use crate::x86::{CR0_PE, CR0_PG, CR4_PAE, EFER_LMA, EFER_LME};
use std::collections::HashMap;

/// Physical memory as a map of 8-byte entries; anything else is outside RAM.
#[derive(Default)]
struct Fake(HashMap<u64, u64>);

impl PhysRead for Fake {
    fn read_u64(&self, gpa: u64) -> Option<u64> {
        self.0.get(&gpa).copied()
    }
}

fn long_mode(cr3: u64) -> kvm_sregs {
    kvm_sregs {
        cr0: CR0_PE | CR0_PG,
        cr3,
        cr4: CR4_PAE,
        efer: EFER_LME | EFER_LMA,
        ..Default::default()
    }
}

/// The 1K OS's kernel mapping (os-1k/boot.S) as the CPU leaves it by `kernel_main`, with
/// boot_pml4 at 0x121000: PML4[511] -> PDPT, PDPT[510] -> PD, PD[0] a 2 MiB page at 0, so
/// the kernel's 0xffffffff80100000 is physical 0x100000. A is set on every entry used, D on
/// the page.
fn kernel_tables() -> Fake {
    let mut m = Fake::default();
    m.0.insert(0x12_1000 + 511 * 8, 0x12_2023);
    m.0.insert(0x12_2000 + 510 * 8, 0x12_3023);
    m.0.insert(0x12_3000, 0xe3);
    m
}

#[test]
fn commands_are_parsed() {
    assert_eq!(parse("help"), Monitor::Help);
    assert_eq!(parse(""), Monitor::Help);
    assert_eq!(parse("pagewalk 0xffffffff80100000"), Monitor::PageWalk(0xffff_ffff_8010_0000));
    assert_eq!(parse("  pagewalk   4096 "), Monitor::PageWalk(4096));
    assert!(matches!(parse("pagewalk zz"), Monitor::Bad(_, why) if why.contains("number")));
    assert!(matches!(parse("pagewalk"), Monitor::Bad(_, why) if why.contains("usage")));
    assert!(matches!(parse("reset"), Monitor::Bad(_, why) if why.contains("monitor help")));
    assert!(HELP.contains("monitor pagewalk ADDR"));
}

#[test]
fn the_kernel_walk_of_the_1k_os_in_words_as_chapter_7_shows_it() {
    let text = pagewalk_text(&kernel_tables(), &long_mode(0x12_1000), 0xffff_ffff_8010_0000);
    assert_eq!(
        text,
        "\
pagewalk 0xffffffff80100000: 4-level paging, CR3 0x121000
level  index  entry at    entry               flags
PML4E    511  0x121ff8    0x0000000000122023  P RW A
PDPTE    510  0x122ff0    0x0000000000123023  P RW A
PDE        0  0x123000    0x00000000000000e3  P RW A D PS (2 MiB page)
physical address 0x100000
"
    );
    let chapter = include_str!("../../../docs/07-paging.md");
    assert!(
        chapter.contains(&format!("(gdb) monitor pagewalk 0xffffffff80100000\n{text}```")),
        "docs/07-paging.md shows this walk"
    );
}

#[test]
fn a_user_page_with_every_flag_and_a_missing_pte() {
    let mut m = Fake::default();
    m.0.insert(0x1000, 0x2000 | 0x27);
    m.0.insert(0x2000, 0x3000 | 0x7);
    m.0.insert(0x3000 + 2 * 8, 0x4000 | 0x7);
    m.0.insert(0x4000, (1 << 63) | 0x9000 | 0x1ff);
    m.0.insert(0x4008, 0);
    let text = pagewalk_text(&m, &long_mode(0x1000), 0x40_0123);
    assert!(text.contains("PML4E      0  0x1000      0x0000000000002027  P RW US A\n"));
    assert!(
        text.contains("PTE        0  0x4000      0x80000000000091ff  P RW US PWT PCD A D PAT G NX (4 KiB page)\n"),
        "{text}"
    );
    assert!(text.ends_with("physical address 0x9123\n"), "{text}");
    let text = pagewalk_text(&m, &long_mode(0x1000), 0x40_1000);
    assert!(text.contains("PTE        1  0x4008      0x0000000000000000  -\n"), "{text}");
    assert!(
        text.ends_with(
            "fault at the PTE: not present (P = 0): an access to 0x401000 raises #PF \
             (vector 14) with CR2 = 0x401000\n"
        ),
        "{text}"
    );
}

#[test]
fn a_table_outside_ram_and_paging_off() {
    let mut m = kernel_tables();
    m.0.insert(0x12_2000 + 510 * 8, 0x7000_0003);
    let text = pagewalk_text(&m, &long_mode(0x12_1000), 0xffff_ffff_8010_0000);
    assert!(text.ends_with("next entry would be at 0x70000000, outside guest RAM: the table address in the entry above is wrong\n"), "{text}");
    let off = pagewalk_text(&m, &kvm_sregs::default(), 0x7c00);
    assert!(off.contains("paging is off (CR0.PG = 0)"), "{off}");
}

#[test]
fn thirty_two_bit_and_pae_levels_have_their_names() {
    let mut m = Fake::default();
    // 32-bit: PD at 0x1000, entry 1 -> PT at 0x2000, entry 0 -> 0x5000 (4-byte entries).
    m.0.insert(0x1004, 0x2003);
    m.0.insert(0x2000, 0x5007);
    let sregs = kvm_sregs { cr0: CR0_PE | CR0_PG, cr3: 0x1000, ..Default::default() };
    let text = pagewalk_text(&m, &sregs, 0x40_0abc);
    assert_eq!(
        text,
        "\
pagewalk 0x400abc: 32-bit paging, CR3 0x1000
level  index  entry at    entry               flags
PDE        1  0x1004      0x00002003          P RW
PTE        0  0x2000      0x00005007          P RW US (4 KiB page)
physical address 0x5abc
"
    );
    // PAE: a PDPTE has no U/S bit to show.
    let mut m = Fake::default();
    m.0.insert(0x1000, 0x2005);
    m.0.insert(0x2000, 0x0020_0087);
    let sregs = kvm_sregs { cr4: CR4_PAE, ..sregs };
    let text = pagewalk_text(&m, &sregs, 0x1234);
    assert!(text.contains("PAE paging"), "{text}");
    assert!(text.contains("PDPTE      0  0x1000      0x0000000000002005  P\n"), "{text}");
    assert!(text.contains("P RW US PS (2 MiB page)"), "{text}");
    assert!(text.ends_with("physical address 0x201234\n"), "{text}");
}

#[test]
fn breakpoints_are_listed_with_whether_they_can_be_hit() {
    use crate::gdb::debugger::Reach;
    assert_eq!(parse("breakpoints"), Monitor::Breakpoints);
    assert_eq!(
        breakpoints_text(&[], false),
        "no breakpoints (gdb puts its breakpoints in when the guest resumes)\n"
    );
    let lines = [
        BreakpointLine {
            addr: 0xffff_ffff_8010_11de,
            how: "single-stepped",
            reach: Reach::Supervisor,
        },
        BreakpointLine { addr: 0x40_0009, how: "single-stepped", reach: Reach::No },
        BreakpointLine {
            addr: 0x50_0000,
            how: "single-stepped",
            reach: Reach::NotMapped("the PDE is not present".into()),
        },
    ];
    assert_eq!(
        breakpoints_text(&lines, true),
        "0xffffffff801011de  single-stepped  can be hit: a supervisor page now (checked again \
         at exits)\n\
         0x0000000000400009  single-stepped  can never be hit: on a user-mode page, and this KVM \
         runs ring-3 code natively, without single-step exits\n\
         0x0000000000500000  single-stepped  not mapped now (the PDE is not present): can be hit \
         unless it turns out to be on a user-mode page, which stops the guest once to say so\n"
    );
    assert!(breakpoints_text(&lines[..1], false)
        .starts_with("gdb takes its breakpoints out while the guest is stopped"));
}
