//! The zero page (`struct boot_params`), the E820 memory map, and the page tables and GDT the
//! 64-bit Linux entry point needs.
//!
//! Reference: Documentation/arch/x86/boot.rst, "64-bit boot protocol" and "The zero page"
//! (Documentation/arch/x86/zero-page.rst lists every offset), and
//! arch/x86/include/uapi/asm/bootparam.h for `struct boot_params` and `struct boot_e820_entry`.
//!
//! At `startup_64` the kernel expects (boot.rst, "64-bit boot protocol"): 64-bit mode with
//! paging on, an identity map of the kernel, the zero page and the command line; a GDT with
//! flat 4 GiB descriptors `__BOOT_CS` (0x10, execute/read) and `__BOOT_DS` (0x18, read/write)
//! loaded into CS and DS/ES/SS; interrupts off; RSI = the zero page's physical address.
//!
//! mini-kvm's low memory for a Linux guest (all below the 640 KiB of conventional RAM):
//!
//! ```text
//! 0x0500  GDT (null, null, __BOOT_CS, __BOOT_DS)
//! 0x7000  the zero page; the boot stack grows down from here
//! 0x9000  PML4, PDPT and four page directories: 0..4 GiB identity-mapped in 2 MiB pages
//! 0x20000 the command line
//! 0xE0000 the ACPI tables when there are any (boot/linux/firmware.rs), in the BIOS area
//! 1 MiB   the protected-mode kernel; the initrd as high as initrd_addr_max and RAM allow
//! ```

use super::error::InitrdTooLarge;
use super::linux::{self, SetupHeader, SETUP_HEADER_OFFSET};
use super::longmode::{PTE_PAGE_SIZE, PTE_PRESENT, PTE_WRITABLE};

pub const GDT_ADDR: u64 = 0x500;
pub const ZERO_PAGE: u64 = 0x7000;
pub const BOOT_STACK: u64 = ZERO_PAGE;
pub const PAGE_TABLES: u64 = 0x9000;
/// PML4 + PDPT + 4 page directories.
pub const PAGE_TABLES_SIZE: usize = 6 * 0x1000;
pub const CMDLINE_ADDR: u64 = 0x2_0000;
/// Conventional memory ends here; the EBDA and the BIOS area follow (reserved in E820).
pub const LOW_RAM_END: u64 = 0x9_FC00;
/// The EBDA ends where the VGA window and the option ROMs start.
const EBDA_END: u64 = 0xA_0000;
/// The system BIOS area, the 128 KiB below 1 MiB: reserved, and where the ACPI tables go
/// (their RSDP at its start, [`super::acpi::RSDP_ADDR`]).
pub const BIOS_AREA: u64 = 0xE_0000;
const ONE_MIB: u64 = 0x10_0000;

/// `__BOOT_CS` and `__BOOT_DS` (arch/x86/include/asm/segment.h: GDT entries 2 and 3).
pub const BOOT_CS: u16 = 0x10;
pub const BOOT_DS: u16 = 0x18;
/// null, null, 64-bit code (L = 1), flat data.
pub const GDT: [u64; 4] = [0, 0, 0x00AF_9A00_0000_FFFF, 0x00CF_9200_0000_FFFF];
/// The same for the 32-bit entry: `__BOOT_CS` a 32-bit code segment (D = 1, L = 0).
pub const GDT_32: [u64; 4] = [0, 0, 0x00CF_9A00_0000_FFFF, 0x00CF_9200_0000_FFFF];

// E820 types (bootparam.h / e820/types.h).
pub const E820_RAM: u32 = 1;
pub const E820_RESERVED: u32 = 2;
pub const E820_MAX_ENTRIES_ZEROPAGE: usize = 128;

/// `struct boot_e820_entry`: one range of the BIOS memory map, packed.
#[allow(non_camel_case_types, dead_code)]
#[repr(C, packed)]
pub struct boot_e820_entry {
    pub addr: u64,
    pub size: u64,
    pub type_: u32,
}

/// `struct setup_header` (bootparam.h), for the layout checks below: mini-kvm copies the
/// header from the image byte for byte and sets single fields at their offsets.
#[allow(non_camel_case_types, dead_code)]
#[repr(C, packed)]
pub struct setup_header {
    setup_sects: u8,
    root_flags: u16,
    syssize: u32,
    ram_size: u16,
    vid_mode: u16,
    root_dev: u16,
    boot_flag: u16,
    jump: u16,
    header: u32,
    version: u16,
    realmode_swtch: u32,
    start_sys_seg: u16,
    kernel_version: u16,
    type_of_loader: u8,
    loadflags: u8,
    setup_move_size: u16,
    code32_start: u32,
    ramdisk_image: u32,
    ramdisk_size: u32,
    bootsect_kludge: u32,
    heap_end_ptr: u16,
    ext_loader_ver: u8,
    ext_loader_type: u8,
    cmd_line_ptr: u32,
    initrd_addr_max: u32,
    kernel_alignment: u32,
    relocatable_kernel: u8,
    min_alignment: u8,
    xloadflags: u16,
    cmdline_size: u32,
    hardware_subarch: u32,
    hardware_subarch_data: u64,
    payload_offset: u32,
    payload_length: u32,
    setup_data: u64,
    pref_address: u64,
    init_size: u32,
    handover_offset: u32,
    kernel_info_offset: u32,
}

/// `struct boot_params`, the zero page (bootparam.h), with the parts mini-kvm leaves zero as
/// byte arrays of their sizes.
#[allow(non_camel_case_types, dead_code)]
#[repr(C, packed)]
pub struct boot_params {
    screen_info: [u8; 0x40],
    apm_bios_info: [u8; 0x14],
    _pad2: [u8; 4],
    tboot_addr: u64,
    ist_info: [u8; 0x10],
    acpi_rsdp_addr: u64,
    _pad3: [u8; 8],
    hd0_info: [u8; 16],
    hd1_info: [u8; 16],
    sys_desc_table: [u8; 0x10],
    olpc_ofw_header: [u8; 0x10],
    ext_ramdisk_image: u32,
    ext_ramdisk_size: u32,
    ext_cmd_line_ptr: u32,
    _pad4: [u8; 112],
    cc_blob_address: u32,
    edid_info: [u8; 0x80],
    efi_info: [u8; 0x20],
    alt_mem_k: u32,
    scratch: u32,
    e820_entries: u8,
    eddbuf_entries: u8,
    edd_mbr_sig_buf_entries: u8,
    kbd_status: u8,
    secure_boot: u8,
    _pad5: [u8; 2],
    sentinel: u8,
    _pad6: [u8; 1],
    hdr: setup_header,
    _pad7: [u8; 0x290 - 0x1F1 - std::mem::size_of::<setup_header>()],
    edd_mbr_sig_buffer: [u32; 16],
    e820_table: [boot_e820_entry; E820_MAX_ENTRIES_ZEROPAGE],
    _pad8: [u8; 48],
    eddbuf: [u8; 6 * 82],
    _pad9: [u8; 276],
}

/// Offsets in the zero page (zero-page.rst).
pub const ACPI_RSDP_ADDR: usize = 0x070;
pub const EXT_RAMDISK_IMAGE: usize = 0x0C0;
pub const EXT_RAMDISK_SIZE: usize = 0x0C4;
pub const EXT_CMD_LINE_PTR: usize = 0x0C8;
pub const E820_ENTRIES: usize = 0x1E8;
pub const E820_TABLE: usize = 0x2D0;

// The kernel's layout, checked at compile time against the offsets zero-page.rst documents
// and the ones linux.rs reads the image with.
const _: () = {
    use std::mem::{offset_of, size_of};
    assert!(size_of::<boot_params>() == 4096);
    assert!(size_of::<boot_e820_entry>() == 20);
    assert!(size_of::<setup_header>() == 0x26C - 0x1F1);
    assert!(offset_of!(boot_params, acpi_rsdp_addr) == ACPI_RSDP_ADDR);
    // The ACPI tables lie inside the BIOS area the E820 map reserves.
    assert!(super::acpi::RSDP_ADDR >= BIOS_AREA && super::acpi::ACPI_AREA_END <= ONE_MIB);
    assert!(offset_of!(boot_params, ext_ramdisk_image) == EXT_RAMDISK_IMAGE);
    assert!(offset_of!(boot_params, ext_ramdisk_size) == EXT_RAMDISK_SIZE);
    assert!(offset_of!(boot_params, ext_cmd_line_ptr) == EXT_CMD_LINE_PTR);
    assert!(offset_of!(boot_params, e820_entries) == E820_ENTRIES);
    assert!(offset_of!(boot_params, sentinel) == 0x1EF);
    assert!(offset_of!(boot_params, hdr) == SETUP_HEADER_OFFSET);
    assert!(offset_of!(boot_params, e820_table) == E820_TABLE);
    assert!(offset_of!(boot_params, eddbuf) == 0xD00);
    let h = SETUP_HEADER_OFFSET;
    assert!(h + offset_of!(setup_header, setup_sects) == linux::SETUP_SECTS);
    assert!(h + offset_of!(setup_header, boot_flag) == linux::BOOT_FLAG_AT);
    assert!(h + offset_of!(setup_header, jump) == linux::JUMP);
    assert!(h + offset_of!(setup_header, header) == linux::HEADER);
    assert!(h + offset_of!(setup_header, version) == linux::VERSION);
    assert!(h + offset_of!(setup_header, type_of_loader) == linux::TYPE_OF_LOADER);
    assert!(h + offset_of!(setup_header, loadflags) == linux::LOADFLAGS);
    assert!(h + offset_of!(setup_header, code32_start) == linux::CODE32_START);
    assert!(h + offset_of!(setup_header, ramdisk_image) == linux::RAMDISK_IMAGE);
    assert!(h + offset_of!(setup_header, ramdisk_size) == linux::RAMDISK_SIZE);
    assert!(h + offset_of!(setup_header, heap_end_ptr) == linux::HEAP_END_PTR);
    assert!(h + offset_of!(setup_header, cmd_line_ptr) == linux::CMD_LINE_PTR);
    assert!(h + offset_of!(setup_header, initrd_addr_max) == linux::INITRD_ADDR_MAX);
    assert!(h + offset_of!(setup_header, kernel_alignment) == linux::KERNEL_ALIGNMENT);
    assert!(h + offset_of!(setup_header, relocatable_kernel) == linux::RELOCATABLE_KERNEL);
    assert!(h + offset_of!(setup_header, xloadflags) == linux::XLOADFLAGS);
    assert!(h + offset_of!(setup_header, cmdline_size) == linux::CMDLINE_SIZE);
    assert!(h + offset_of!(setup_header, pref_address) == linux::PREF_ADDRESS);
    assert!(h + offset_of!(setup_header, init_size) == linux::INIT_SIZE);
};

/// One E820 range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct E820Entry {
    pub addr: u64,
    pub size: u64,
    pub kind: u32,
}

/// The memory map of a guest with `ram` bytes at physical 0: conventional memory, the EBDA
/// and the BIOS area (with the ACPI tables, if any) reserved as a PC's firmware reports
/// them, then RAM from 1 MiB to the end.
// [tour:e820]
pub fn e820_map(ram: u64) -> Vec<E820Entry> {
    let entry = |addr, end: u64, kind| E820Entry {
        addr,
        size: end.saturating_sub(addr), // 0 for RAM below 1 MiB, which --mem never gives
        kind,
    };
    vec![
        entry(0, LOW_RAM_END, E820_RAM),
        entry(LOW_RAM_END, EBDA_END, E820_RESERVED),
        entry(BIOS_AREA, ONE_MIB, E820_RESERVED),
        entry(ONE_MIB, ram, E820_RAM),
    ]
}
// [/tour:e820]

/// Where the initrd goes: as high as both RAM and the header's `initrd_addr_max` allow,
/// page-aligned, and above everything the kernel occupies while it boots (`kernel_end`).
pub fn place_initrd(
    header: &SetupHeader,
    ram: u64,
    kernel_end: u64,
    size: u64,
) -> Result<u64, InitrdTooLarge> {
    // A u32 plus one cannot overflow a u64.
    let addr_limit = u64::from(header.initrd_addr_max) + 1;
    let ceiling = ram.min(addr_limit);
    let floor = kernel_end.checked_next_multiple_of(0x1000).unwrap_or(u64::MAX);
    match ceiling.checked_sub(size).map(|a| a & !0xFFF) {
        Some(addr) if addr >= floor => Ok(addr),
        _ => Err(InitrdTooLarge { size, floor, ceiling, ram, addr_limit }),
    }
}

fn put(page: &mut [u8], at: usize, bytes: &[u8]) {
    page[at..at + bytes.len()].copy_from_slice(bytes);
}

/// Sets a 32-bit field of the zero page; every address mini-kvm gives the kernel here is below
/// 4 GiB except the initrd's, whose high halves go to the `ext_*` fields.
fn put32(page: &mut [u8], at: usize, value: u32) {
    put(page, at, &value.to_le_bytes());
}

/// `heap_end_ptr`, the heap the real-mode setup would use (boot.rst, "Details of header
/// fields": the end of the setup's stack and heap, from the start of the real-mode code, minus
/// 0x200): 0x10000 - 0x200 with a 64 KiB setup segment.
const HEAP_END: u16 = 0xFE00;

/// Builds the zero page: the image's own setup header (`image_head`, its first bytes) copied
/// to 0x1F1, the loader's fields filled in (boot.rst, "Details of header fields": the ones
/// marked "write"), the E820 map, and where the ACPI tables' RSDP is when there are tables
/// (`acpi_rsdp_addr`, protocol 2.14; an older kernel finds it by scanning the BIOS area).
// [tour:zero-page]
pub fn build_zero_page(
    image_head: &[u8],
    header: &SetupHeader,
    ram: u64,
    initrd: Option<(u64, u64)>,
    acpi_rsdp: Option<u64>,
) -> Box<[u8; 4096]> {
    let mut zp = Box::new([0u8; 4096]);
    // The header as the image has it (parse_header checked that it reaches header_end).
    let end = header.header_end.min(linux::SETUP_HEADER_END);
    if let Some(bytes) = image_head.get(SETUP_HEADER_OFFSET..end) {
        zp[SETUP_HEADER_OFFSET..end].copy_from_slice(bytes);
    }
    zp[linux::TYPE_OF_LOADER] = linux::LOADER_UNDEFINED;
    zp[linux::LOADFLAGS] = header.loadflags | linux::CAN_USE_HEAP;
    put(&mut zp[..], linux::HEAP_END_PTR, &HEAP_END.to_le_bytes());
    put32(&mut zp[..], linux::CODE32_START, linux::KERNEL_LOAD as u32);
    put32(&mut zp[..], linux::CMD_LINE_PTR, CMDLINE_ADDR as u32);
    if let Some((addr, size)) = initrd {
        put32(&mut zp[..], linux::RAMDISK_IMAGE, addr as u32);
        put32(&mut zp[..], linux::RAMDISK_SIZE, size as u32);
        put32(&mut zp[..], EXT_RAMDISK_IMAGE, (addr >> 32) as u32);
        put32(&mut zp[..], EXT_RAMDISK_SIZE, (size >> 32) as u32);
    }
    if let Some(rsdp) = acpi_rsdp {
        put(&mut zp[..], ACPI_RSDP_ADDR, &rsdp.to_le_bytes());
    }
    write_e820(&mut zp[..], &e820_map(ram));
    zp
}
// [/tour:zero-page]

/// The E820 table (zero-page.rst: `e820_entries` at 0x1E8, `e820_table` at 0x2D0, each entry
/// a packed `struct boot_e820_entry`), what the real-mode setup would have asked the BIOS for.
fn write_e820(zp: &mut [u8], map: &[E820Entry]) {
    let map = &map[..map.len().min(E820_MAX_ENTRIES_ZEROPAGE)];
    zp[E820_ENTRIES] = map.len() as u8;
    for (i, e) in map.iter().enumerate() {
        let at = E820_TABLE + i * std::mem::size_of::<boot_e820_entry>();
        put(zp, at, &e.addr.to_le_bytes());
        put(zp, at + 8, &e.size.to_le_bytes());
        put(zp, at + 16, &e.kind.to_le_bytes());
    }
}

/// The identity map of 0..4 GiB: PML4[0] -> PDPT, PDPT[0..4] -> four page directories of
/// 512 2 MiB pages each (SDM Vol. 3A 4.5, Table 4-17), for the pages at [`PAGE_TABLES`].
pub fn build_page_tables() -> Vec<u8> {
    let mut pages = vec![0u8; PAGE_TABLES_SIZE];
    let mut set = |page: usize, index: usize, value: u64| {
        let at = page * 0x1000 + index * 8;
        pages[at..at + 8].copy_from_slice(&value.to_le_bytes());
    };
    let table = |n: u64| (PAGE_TABLES + n * 0x1000) | PTE_PRESENT | PTE_WRITABLE;
    set(0, 0, table(1));
    for gib in 0..4u64 {
        set(1, gib as usize, table(2 + gib));
        for i in 0..512u64 {
            let frame = (gib << 30) | (i << 21);
            set(2 + gib as usize, i as usize, frame | PTE_PRESENT | PTE_WRITABLE | PTE_PAGE_SIZE);
        }
    }
    pages
}

/// The GDT's bytes, for [`GDT_ADDR`].
pub fn gdt_bytes(entry32: bool) -> Vec<u8> {
    let gdt = if entry32 { GDT_32 } else { GDT };
    gdt.iter().flat_map(|d| d.to_le_bytes()).collect()
}
