//! Unit tests of the boot protocol (linux.rs) and the zero page (zeropage.rs), on byte buffers.

use super::*;
use crate::boot::error::BzImageError;
use crate::boot::zeropage::*;

const RAM: u64 = 256 << 20;

/// The first bytes of a bzImage as a 6.1 kernel has them (values from a Debian 6.1 kernel).
fn head() -> Vec<u8> {
    let mut b = vec![0u8; 0x1000];
    b[SETUP_SECTS] = 39;
    b[BOOT_FLAG_AT..BOOT_FLAG_AT + 2].copy_from_slice(&0xAA55u16.to_le_bytes());
    b[JUMP] = 0xEB;
    b[JUMP + 1] = 0x6A; // header ends at 0x26C
    b[HEADER..HEADER + 4].copy_from_slice(b"HdrS");
    b[VERSION..VERSION + 2].copy_from_slice(&0x020Fu16.to_le_bytes());
    b[LOADFLAGS] = LOADED_HIGH;
    b[XLOADFLAGS..XLOADFLAGS + 2].copy_from_slice(&0x7Fu16.to_le_bytes());
    b[CMDLINE_SIZE..CMDLINE_SIZE + 4].copy_from_slice(&2047u32.to_le_bytes());
    b[INITRD_ADDR_MAX..INITRD_ADDR_MAX + 4].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    b[KERNEL_ALIGNMENT..KERNEL_ALIGNMENT + 4].copy_from_slice(&0x20_0000u32.to_le_bytes());
    b[RELOCATABLE_KERNEL] = 1;
    b[PREF_ADDRESS..PREF_ADDRESS + 8].copy_from_slice(&0x100_0000u64.to_le_bytes());
    b[INIT_SIZE..INIT_SIZE + 4].copy_from_slice(&0x3F9_8000u32.to_le_bytes());
    b
}

const FILE_LEN: u64 = 8 << 20;

#[test]
fn a_real_header_parses() {
    let h = parse_header(&head(), FILE_LEN).unwrap();
    assert_eq!(h.setup_sects, 39);
    assert_eq!(h.setup_size(), 40 * 512);
    assert_eq!(h.version_text(), "2.15");
    assert_eq!(h.cmdline_size, 2047);
    assert_eq!(h.header_end, 0x26C);
    assert!(h.relocatable);
    // Relocatable: it runs from pref_address (16 MiB) for init_size bytes.
    assert_eq!(kernel_end(&h, FILE_LEN - h.setup_size()), Some(0x100_0000 + 0x3F9_8000));
}

#[test]
fn setup_sects_zero_means_four() {
    let mut b = head();
    b[SETUP_SECTS] = 0;
    assert_eq!(parse_header(&b, FILE_LEN).unwrap().setup_size(), 5 * 512);
}

#[test]
fn bad_images_are_refused_with_the_reason() {
    let err = |b: &[u8], len: u64| parse_header(b, len).unwrap_err().to_string();
    assert!(err(&[0u8; 0x100], 0x100).contains("too short"));
    assert!(err(&vec![0u8; 0x1000], 0x1000).contains("no \"HdrS\""));
    let mut old = head();
    old[VERSION..VERSION + 2].copy_from_slice(&0x0204u16.to_le_bytes());
    assert!(err(&old, FILE_LEN).contains("protocol 2.04"));
    let mut zimage = head();
    zimage[LOADFLAGS] = 0;
    assert!(err(&zimage, FILE_LEN).contains("zImage"));
    let mut no64 = head();
    no64[XLOADFLAGS] = 0;
    assert!(err(&no64, FILE_LEN).contains("XLF_KERNEL_64"));
    let mut align = head();
    align[KERNEL_ALIGNMENT..KERNEL_ALIGNMENT + 4].copy_from_slice(&3u32.to_le_bytes());
    assert!(err(&align, FILE_LEN).contains("kernel_alignment"));
    let mut flag = head();
    flag[BOOT_FLAG_AT] = 0;
    assert!(err(&flag, FILE_LEN).contains("0xAA55"));
    // The header says 40 sectors of setup, the file has fewer bytes than that.
    assert!(err(&head(), 0x1000).contains("truncated"));
    // A header cut short after the magic (the file is only 0x210 bytes).
    assert!(err(&head()[..0x210], 0x210).contains("too short"));
}

#[test]
fn every_truncation_of_the_header_is_refused_naming_what_is_missing() {
    // Cut anywhere from the magic to the header's end (518 and 519 bytes end inside `version`),
    // a file is an error naming a field it cuts off or the header's end, never a panic.
    let full = head();
    for len in HEADER + 4..SETUP_HEADER_END {
        let why = parse_header(&full[..len], len as u64).unwrap_err();
        let BzImageError::TooShort { file_len, at, .. } = why else {
            panic!("{len} bytes: {why:?}");
        };
        assert_eq!(file_len, len as u64);
        // A field the file cuts, or the header's end (0x26C for this one) that it does not reach.
        assert!(at + 8 > len || at == SETUP_HEADER_END, "{len}: {why:?}");
        let text = why.to_string();
        let start = format!("is {len} bytes, too short for a Linux bzImage: it ends before the ");
        assert!(text.starts_with(&start), "{text}");
    }
    assert_eq!(
        parse_header(&full[..0x206], 0x206).unwrap_err().to_string(),
        "is 518 bytes, too short for a Linux bzImage: it ends before the setup header's version \
         at byte 0x206 (the setup header alone ends at byte 0x26c); truncated, or give --linux \
         the kernel's bzImage (arch/x86/boot/bzImage, /boot/vmlinuz-*)"
    );
    assert!(matches!(
        parse_header(&full[..0x207], 0x207),
        Err(BzImageError::TooShort { at: VERSION, .. })
    ));
    // Shorter than the magic: that is what is missing.
    for len in 0..HEADER + 4 {
        assert!(
            matches!(
                parse_header(&full[..len], len as u64),
                Err(BzImageError::TooShort { at: HEADER, .. })
            ),
            "{len} bytes"
        );
    }
}

#[test]
fn the_plan_checks_cmdline_kernel_and_initrd() {
    let h = parse_header(&head(), FILE_LEN).unwrap();
    assert!(matches!(
        plan(h, FILE_LEN, RAM, 2048, None),
        Err(PlanProblem::Cmdline(m)) if m.contains("2047")
    ));
    assert!(matches!(
        plan(h, FILE_LEN, 64 << 20, 10, None),
        Err(PlanProblem::Kernel(m)) if m.contains("--mem")
    ));
    let boot = plan(h, FILE_LEN, RAM, 10, Some(3 << 20)).unwrap();
    let (addr, size) = boot.initrd.unwrap();
    assert_eq!(size, 3 << 20);
    assert_eq!(addr, RAM - (3 << 20), "as high as RAM allows");
    assert!(matches!(
        plan(h, FILE_LEN, RAM, 10, Some(200 << 20)),
        Err(PlanProblem::Initrd(m)) if m.contains("at most")
    ));
}

#[test]
fn header_numbers_that_add_up_past_64_bits_are_refused_not_wrapped() {
    // A relocatable 2.15 kernel whose pref_address + init_size passes 2^64: refused as the
    // corrupt header it is (status 3), like one that merely lies beyond RAM.
    let mut b = head();
    b[PREF_ADDRESS..PREF_ADDRESS + 8].copy_from_slice(&0xFFFF_FFFF_FFFF_F000u64.to_le_bytes());
    let h = parse_header(&b, FILE_LEN).unwrap();
    assert_eq!(kernel_end(&h, FILE_LEN - h.setup_size()), None);
    assert!(matches!(
        plan(h, FILE_LEN, RAM, 10, None),
        Err(PlanProblem::Kernel(m)) if m.contains("pref_address 0xfffffffffffff000")
            && m.contains("past the end of the 64-bit address space")
    ));
    b[PREF_ADDRESS..PREF_ADDRESS + 8].copy_from_slice(&0x1_0000_0000u64.to_le_bytes());
    let h = parse_header(&b, FILE_LEN).unwrap();
    assert!(matches!(
        plan(h, FILE_LEN, RAM, 10, None),
        Err(PlanProblem::Kernel(m)) if m.contains("--mem")
    ));
    // A kernel end at the top of the address space leaves the initrd nowhere to go.
    assert!(place_initrd(&h, RAM, u64::MAX - 1, 0x1000).is_err());
    // Less than 1 MiB of RAM: no range that ends before it starts.
    assert!(e820_map(0x8_0000).iter().all(|e| e.size < 1 << 20));
}

#[test]
fn a_kernel_that_takes_no_command_line_is_the_images_limit() {
    let mut b = head();
    b[CMDLINE_SIZE..CMDLINE_SIZE + 4].copy_from_slice(&0u32.to_le_bytes());
    let h = parse_header(&b, FILE_LEN).unwrap();
    let default = DEFAULT_CMDLINE.len();
    assert!(matches!(
        plan(h, FILE_LEN, RAM, default, None),
        Err(PlanProblem::Kernel(m)) if m.starts_with(&format!(
            "accepts no command line (its setup header's cmdline_size is 0), and the command \
             line is {default} bytes: mini-kvm's default"))
            && m.ends_with("give --cmdline '' to boot it without one")
    ));
    assert!(plan(h, FILE_LEN, RAM, 0, None).is_ok());
}

#[test]
fn an_initrd_that_does_not_fit_is_told_the_fix_that_works() {
    let h = parse_header(&head(), FILE_LEN).unwrap(); // initrd_addr_max 2 GiB - 1
    let fix = |ram: u64, size: u64| match plan(h, FILE_LEN, ram, 10, Some(size)) {
        Err(PlanProblem::Initrd(m)) => m.rsplit("; ").next().unwrap().to_string(),
        other => panic!("{other:?}"),
    };
    // RAM is the ceiling and more of it helps: say how much.
    assert_eq!(fix(256 << 20, 300 << 20), "give a larger --mem (--mem 380M at least)");
    // initrd_addr_max is the ceiling (--mem 3G): more RAM cannot help.
    assert_eq!(
        fix(3 << 30, 2 << 30),
        "the kernel's initrd_addr_max is the limit, which no --mem raises: give a smaller \
         initrd (fewer files, or compressed harder: xz)"
    );
    // RAM is the ceiling, but even RAM up to initrd_addr_max would not do.
    assert_eq!(
        fix(1 << 30, 2 << 30),
        "even with RAM up to initrd_addr_max it would not fit: give a smaller initrd (fewer \
         files, or compressed harder: xz)"
    );
}

#[test]
fn the_initrd_respects_initrd_addr_max() {
    let mut h = parse_header(&head(), FILE_LEN).unwrap();
    h.initrd_addr_max = 0x37FF_FFFF; // the protocol < 2.03 default
    let addr = place_initrd(&h, 2 << 30, 0x500_0000, 0x1800).unwrap();
    assert_eq!(addr, 0x3800_0000 - 0x2000, "page-aligned, ending below the limit");
    assert_eq!(addr % 4096, 0);
    assert!(place_initrd(&h, 2 << 30, 0x37FF_F000, 0x2000).is_err());
}

#[test]
fn the_e820_map_covers_ram_and_reserves_the_bios_holes() {
    let map = e820_map(RAM);
    assert_eq!(map[0], E820Entry { addr: 0, size: 0x9_FC00, kind: E820_RAM });
    assert_eq!(map[1].kind, E820_RESERVED);
    // The BIOS area, the 128 KiB below 1 MiB, where the ACPI tables go when there are any.
    assert_eq!(map[2], E820Entry { addr: 0xE_0000, size: 0x2_0000, kind: E820_RESERVED });
    let acpi = crate::boot::acpi::RSDP_ADDR..crate::boot::acpi::ACPI_AREA_END;
    let reserved = |a: u64| {
        map.iter().any(|e| e.kind == E820_RESERVED && (e.addr..e.addr + e.size).contains(&a))
    };
    assert!(reserved(acpi.start) && reserved(acpi.end - 1), "the ACPI area is reserved");
    assert_eq!(map[3], E820Entry { addr: 1 << 20, size: RAM - (1 << 20), kind: E820_RAM });
    for w in map.windows(2) {
        assert!(w[0].addr + w[0].size <= w[1].addr, "sorted, no overlap");
    }
}

#[test]
fn the_zero_page_holds_header_loader_fields_and_e820() {
    let b = head();
    let h = parse_header(&b, FILE_LEN).unwrap();
    let zp = build_zero_page(&b, &h, RAM, Some((0x0F00_0000, 0x1234)), None);
    let u32_at = |at: usize| u32::from_le_bytes(zp[at..at + 4].try_into().unwrap());
    assert_eq!(&zp[HEADER..HEADER + 4], b"HdrS", "the image's header is copied");
    assert_eq!(zp[TYPE_OF_LOADER], 0xFF);
    assert_eq!(zp[LOADFLAGS], LOADED_HIGH | CAN_USE_HEAP);
    assert_eq!(u32_at(CMD_LINE_PTR), CMDLINE_ADDR as u32);
    assert_eq!(u32_at(RAMDISK_IMAGE), 0x0F00_0000);
    assert_eq!(u32_at(RAMDISK_SIZE), 0x1234);
    assert_eq!(zp[E820_ENTRIES], 4);
    let last = E820_TABLE + 3 * 20;
    assert_eq!(u64::from_le_bytes(zp[last..last + 8].try_into().unwrap()), 1 << 20);
    assert_eq!(u32_at(last + 16), E820_RAM);
    assert!(zp[..E820_ENTRIES].iter().all(|&b| b == 0), "screen_info and the rest: zero");
}

#[test]
fn the_zero_page_says_where_the_rsdp_is_when_there_are_acpi_tables() {
    let b = head();
    let h = parse_header(&b, FILE_LEN).unwrap();
    let zp = build_zero_page(&b, &h, RAM, None, Some(0xE_0000));
    assert_eq!(ACPI_RSDP_ADDR, 0x070, "zero-page.rst: acpi_rsdp_addr");
    assert_eq!(zp[ACPI_RSDP_ADDR..ACPI_RSDP_ADDR + 8], 0xE_0000u64.to_le_bytes());
    let without = build_zero_page(&b, &h, RAM, None, None);
    assert_eq!(without[ACPI_RSDP_ADDR..ACPI_RSDP_ADDR + 8], [0; 8], "no tables: 0, search");
    let differ = (0..4096).filter(|&i| zp[i] != without[i]).collect::<Vec<_>>();
    // 0xE0000 is the bytes 00 00 0E 00 00 00 00 00: one differs, and nothing else changes.
    assert_eq!(differ, [ACPI_RSDP_ADDR + 2]);
}

#[test]
fn page_tables_identity_map_four_gib() {
    let t = build_page_tables();
    let entry = |page: usize, i: usize| {
        let at = page * 0x1000 + i * 8;
        u64::from_le_bytes(t[at..at + 8].try_into().unwrap())
    };
    assert_eq!(entry(0, 0), (PAGE_TABLES + 0x1000) | 3);
    assert_eq!(entry(0, 1), 0);
    for gib in 0..4 {
        assert_eq!(entry(1, gib), (PAGE_TABLES + 0x2000 + gib as u64 * 0x1000) | 3);
    }
    assert_eq!(entry(2, 0), 0x83, "virtual 0 -> physical 0, 2 MiB, writable");
    assert_eq!(entry(2, 8), (8 << 21) | 0x83, "the kernel at 16 MiB");
    assert_eq!(entry(5, 511), 0xFFE0_0000 | 0x83, "the last 2 MiB below 4 GiB");
    // The tables and the zero page stay in conventional memory, clear of each other.
    const { assert!(PAGE_TABLES + PAGE_TABLES_SIZE as u64 <= CMDLINE_ADDR) };
    const { assert!(ZERO_PAGE + 0x1000 <= PAGE_TABLES && GDT_ADDR + 32 <= ZERO_PAGE) };
}

#[test]
fn the_entry_state_follows_the_64_bit_protocol() {
    let mut sregs = kvm_sregs::default();
    set_sregs(&mut sregs);
    assert_eq!((sregs.cs.selector, sregs.cs.l, sregs.cs.db), (0x10, 1, 0));
    assert_eq!((sregs.ds.selector, sregs.ss.selector), (0x18, 0x18));
    assert_eq!(sregs.cr3, PAGE_TABLES);
    assert_eq!(sregs.efer & (EFER_LME | EFER_LMA), EFER_LME | EFER_LMA);
    let gdt = gdt_bytes(false);
    assert_eq!(&gdt_bytes(true)[16..24], &0x00CF_9A00_0000_FFFFu64.to_le_bytes());
    assert_eq!(gdt.len(), 32);
    assert_eq!(u64::from_le_bytes(gdt[16..24].try_into().unwrap()) >> 53 & 1, 1, "L = 1");
    let regs = initial_regs();
    assert_eq!(regs.rip, 0x10_0200, "startup_64");
    assert_eq!(regs.rsi, ZERO_PAGE);
    assert_eq!(regs.rflags & crate::x86::RFLAGS_IF, 0, "interrupts off");
}

#[test]
fn cpuid_says_hypervisor() {
    use crate::kvm::cpuid::{kvm_cpuid2, kvm_cpuid_entry2, CpuidTable};
    let mut table = CpuidTable {
        header: kvm_cpuid2 { nent: 2, padding: 0 },
        entries: [kvm_cpuid_entry2::default(); 256],
    };
    table.entries[0].function = 1;
    table.entries[0].ecx = 1;
    table.entries[1].function = KVM_CPUID_SIGNATURE;
    table.entries[1].ebx = u32::from_le_bytes(*b"KVMK");
    table.entries[2].function = 1; // beyond nent: untouched
    assert!(patch_cpuid(&mut table));
    assert_eq!(table.entries[0].ecx, 1 | CPUID_1_ECX_HYPERVISOR);
    assert_eq!(table.entries[2].ecx, 0);
    table.header.nent = 1;
    assert!(!patch_cpuid(&mut table), "no KVM leaves in the table");
}
