//! Unit tests for multiboot.rs (kept apart so the module reads on its own).
use super::boot_area::*;
use super::*;
use crate::boot::elf::{test_elf, Class};

fn header_bytes(flags: u32, extra: &[u32]) -> Vec<u8> {
    let mut v = Vec::new();
    for w in [HEADER_MAGIC, flags, 0u32.wrapping_sub(HEADER_MAGIC).wrapping_sub(flags)] {
        v.extend_from_slice(&w.to_le_bytes());
    }
    for w in extra {
        v.extend_from_slice(&w.to_le_bytes());
    }
    v
}

/// An ELF kernel at 1 MiB whose code starts with a Multiboot header.
fn kernel(class: Class) -> Vec<u8> {
    let mut code = header_bytes(HF_PAGE_ALIGN_MODULES | HF_MEMORY_INFO, &[]);
    code.extend_from_slice(&[0xF4; 4]); // entry: hlt
    test_elf(class, 0x10_0000, 0x10_000C, &code, 0x2000)
}

#[test]
fn finds_headers_and_rejects_bad_checksums() {
    let k = kernel(Class::Elf32);
    let h = find_header(&k).unwrap().unwrap();
    assert_eq!(h.offset % 4, 0);
    assert_eq!(h.flags, 3);
    assert_eq!(find_header(&[0x90; 100]), Ok(None));
    let mut bad = k.clone();
    bad[h.offset + 8] ^= 1;
    assert!(find_header(&bad).unwrap_err().to_string().contains("checksum"));
    let unknown = header_bytes(1 << 7, &[]);
    assert!(find_header(&unknown).unwrap_err().to_string().contains("does not know"));
    // A header beyond the first 8 KiB does not count.
    let mut far = vec![0u8; 8192];
    far.extend(header_bytes(0, &[]));
    assert_eq!(find_header(&far), Ok(None));
}

#[test]
fn loads_elf32_and_elf64_kernels_at_their_physical_addresses() {
    for class in [Class::Elf32, Class::Elf64] {
        let k = kernel(class);
        let mem = GuestMemory::new(32 << 20).unwrap();
        let h = find_header(&k).unwrap().unwrap();
        let loaded = load(&mem, &k, &h, "console=ttyS0", &[]).unwrap();
        assert_eq!(loaded.entry, 0x10_000C);
        assert_eq!(loaded.info_addr, 0x8040);
        let mut magic = [0u8; 4];
        mem.read(0x10_0000, &mut magic).unwrap();
        assert_eq!(u32::from_le_bytes(magic), HEADER_MAGIC);
        let regs = initial_regs(&loaded);
        assert_eq!((regs.rax, regs.rbx, regs.rip), (0x2BAD_B002, 0x8040, 0x10_000C));
    }
}

#[test]
fn kernels_outside_ram_or_over_the_boot_area_are_refused() {
    let mut code = header_bytes(0, &[]);
    code.push(0xF4);
    let k = test_elf(Class::Elf32, 0x300_0000, 0x300_000C, &code, 0);
    let mem = GuestMemory::new(32 << 20).unwrap();
    let h = find_header(&k).unwrap().unwrap();
    assert!(load(&mem, &k, &h, "", &[]).unwrap_err().to_string().contains("outside guest RAM"));
    let k = test_elf(Class::Elf32, 0x8000, 0x800C, &code, 0);
    assert!(load(&mem, &k, &h, "", &[]).unwrap_err().to_string().contains("overlaps"));
    let k = test_elf(Class::Elf64, 0x10_0000, 0xFFFF_FFFF_8010_000C, &code, 0);
    assert!(load(&mem, &k, &h, "", &[]).unwrap_err().to_string().contains("entry point"));
}

#[test]
fn segments_that_wrap_the_address_space_are_refused_not_wrapped() {
    let mut code = header_bytes(0, &[]);
    code.push(0xF4);
    let mem = GuestMemory::new(32 << 20).unwrap();
    // A 64-bit segment at the top of the address space with a bss past its end.
    let k = test_elf(Class::Elf64, 0xFFFF_FFFF_FFFF_F000, 0x10_0000, &code, 0x2000);
    let h = find_header(&k).unwrap().unwrap();
    let why = load(&mem, &k, &h, "", &[]).unwrap_err();
    assert_eq!(
        why,
        MultibootError::Wraps { what: Contents::KernelSegment, addr: 0xFFFF_FFFF_FFFF_F000 }
    );
    // memsz so large that the segment's end passes 2^64.
    let bss = u64::MAX - code.len() as u64;
    let k = test_elf(Class::Elf64, 0x10_0000, 0x10_0000, &code, bss);
    let h = find_header(&k).unwrap().unwrap();
    assert_eq!(
        load(&mem, &k, &h, "", &[]).unwrap_err(),
        MultibootError::Wraps { what: Contents::KernelSegment, addr: 0x10_0000 }
    );
    // Address fields whose file part would run past the file.
    let mut k = header_bytes(HF_ADDRESS_FIELDS, &[0x10_0000, 0x10_0000, 0xFFFF_FFFF, 0, 0x10_0000]);
    k.push(0xF4);
    let h = find_header(&k).unwrap().unwrap();
    assert_eq!(load(&mem, &k, &h, "", &[]).unwrap_err(), MultibootError::AddressFieldsPastFile);
}

#[test]
fn address_fields_load_a_flat_kernel() {
    // header at file offset 0 = address 0x100000; load the whole file there, 4 KiB of bss.
    let mut k = header_bytes(HF_ADDRESS_FIELDS, &[0x10_0000, 0x10_0000, 0, 0x10_2000, 0x10_0020]);
    k.resize(0x20, 0x90);
    k.push(0xF4);
    let h = find_header(&k).unwrap().unwrap();
    let mem = GuestMemory::new(8 << 20).unwrap();
    let loaded = load(&mem, &k, &h, "", &[]).unwrap();
    assert_eq!(loaded.entry, 0x10_0020);
    assert_eq!(loaded.end, 0x10_2000);
}

#[test]
fn boot_area_describes_memory_cmdline_and_modules() {
    let area = build_boot_area(32 << 20, "quiet", &[(0x20_0000, 0x20_0100, "disk.tar")]).unwrap();
    let r32 = |at: usize| u32::from_le_bytes(area[at..at + 4].try_into().unwrap());
    let r64 = |at: usize| u64::from_le_bytes(area[at..at + 8].try_into().unwrap());
    let info = INFO_OFFSET;
    let flags = r32(info);
    assert_eq!(flags, MBI_MEMORY | MBI_CMDLINE | MBI_MODULES | MBI_MEMORY_MAP | MBI_LOADER_NAME);
    assert_eq!((r32(info + 4), r32(info + 8)), (639, 31 * 1024));
    let at = |gpa: u32| (u64::from(gpa) - BOOT_AREA) as usize;
    let cstr = |gpa: u32| {
        let s = &area[at(gpa)..];
        String::from_utf8(s[..s.iter().position(|&b| b == 0).unwrap()].to_vec()).unwrap()
    };
    assert_eq!(cstr(r32(info + 16)), "quiet");
    assert!(cstr(r32(info + 64)).starts_with("mini-kvm"));
    assert_eq!(r32(info + 20), 1);
    let m = at(r32(info + 24));
    assert_eq!((r32(m), r32(m + 4)), (0x20_0000, 0x20_0100));
    assert_eq!(cstr(r32(m + 8)), "disk.tar");
    // Memory map: the last entry is RAM from 1 MiB to the end.
    let (len, map) = (r32(info + 44) as usize, at(r32(info + 48)));
    assert_eq!(len, 4 * 24);
    let last = map + 3 * 24;
    assert_eq!(
        (r32(last), r64(last + 4), r64(last + 12), r32(last + 20)),
        (20, 0x10_0000, 31 << 20, 1)
    );
    // The GDT's code segment is a flat 32-bit one.
    assert_eq!(r64(GDT_OFFSET + 8), 0x00CF_9A00_0000_FFFF);
    assert!(build_boot_area(32 << 20, &"x".repeat(40_000), &[]).is_err());
}

#[test]
fn entry_state_is_the_specs() {
    let mut sregs = kvm_sregs { cr0: CR0_PG | 0x10, ..Default::default() };
    set_sregs(&mut sregs);
    assert_eq!(sregs.cr0 & (CR0_PE | CR0_PG), CR0_PE);
    assert_eq!((sregs.cs.selector, sregs.cs.db, sregs.cs.g), (0x08, 1, 1));
    assert_eq!((sregs.ss.selector, sregs.ss.limit), (0x10, 0xFFFF_FFFF));
    assert_eq!(sregs.gdt.base, BOOT_AREA);
}

#[test]
fn ram_past_3_gib_continues_at_4_gib_in_the_memory_map() {
    let ram = 16u64 << 30;
    let mapping = crate::boot::mapping_size(ram);
    assert_eq!(
        (mapping, crate::boot::low_ram(ram), ram - crate::boot::LOW_RAM_END),
        (17 << 30, 3 << 30, 13 << 30),
        "one mapping with the hole, a slot below it and one above"
    );
    let area = build_boot_area(mapping, "", &[]).unwrap();
    let r32 = |at: usize| u32::from_le_bytes(area[at..at + 4].try_into().unwrap());
    let r64 = |at: usize| u64::from_le_bytes(area[at..at + 8].try_into().unwrap());
    let info = INFO_OFFSET;
    // mem_upper: KiB from 1 MiB to the hole.
    assert_eq!(r32(info + 8), ((3u64 << 30) - (1 << 20)) as u32 / 1024);
    let at = |gpa: u32| (u64::from(gpa) - BOOT_AREA) as usize;
    let (len, map) = (r32(info + 44) as usize, at(r32(info + 48)));
    assert_eq!(len, 5 * 24);
    let below = map + 3 * 24;
    assert_eq!((r64(below + 4), r64(below + 12)), (1 << 20, (3 << 30) - (1 << 20)));
    let above = map + 4 * 24;
    assert_eq!((r64(above + 4), r64(above + 12), r32(above + 20)), (4 << 30, 13 << 30, 1));
    // Up to 3 GiB nothing changes.
    assert_eq!(crate::boot::mapping_size(3 << 30), 3 << 30);
}
