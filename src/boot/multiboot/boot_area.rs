//! The boot area: what a Multiboot loader tells the kernel about the machine, laid out in one
//! fixed area of guest memory below 1 MiB.
//!
//! Reference: the Multiboot Specification version 0.6.96, 3.3 "Boot information format" (the
//! information structure, its `flags` saying which fields are valid, the memory map and the
//! module list) and 3.2 "Machine state" (which leaves GDTR to the kernel; mini-kvm still gives
//! it a valid GDT).
//!
//! ```text
//! BOOT_AREA + 0x000  GDT: null, flat 32-bit code (0x08), flat 32-bit data (0x10)
//!           + 0x040  the Multiboot information structure (EBX points here)
//!           + 0x100  the memory map (mmap_addr)
//!           + 0x200  the module list (mods_addr)
//!           + 0x400  the strings: command line, module names, loader name
//! ```
//!
//! Every pointer the kernel reads here is a guest-physical address: the kernel starts with
//! paging off.

use crate::boot::error::MultibootError;
use crate::boot::{HIGH_RAM_START, LOW_RAM_END};

/// Guest-physical area mini-kvm writes its boot data into: [0x8000, 0x10000).
pub const BOOT_AREA: u64 = 0x8000;
pub(in crate::boot) const BOOT_AREA_SIZE: usize = 0x8000;
pub(super) const GDT_OFFSET: usize = 0x0;
pub(super) const INFO_OFFSET: usize = 0x40;
const MMAP_OFFSET: usize = 0x100;
const MODULES_OFFSET: usize = 0x200;
const STRINGS_OFFSET: usize = 0x400;
pub const MAX_MODULES: usize = (STRINGS_OFFSET - MODULES_OFFSET) / MODULE_ENTRY_SIZE;

/// Flat 4 GiB segments: null, 0x08 32-bit code (execute/read), 0x10 32-bit data (read/write).
pub(super) const GDT: [u64; 3] = [0, 0x00CF_9A00_0000_FFFF, 0x00CF_9200_0000_FFFF];
pub const CODE_SELECTOR: u16 = 0x08;
pub const DATA_SELECTOR: u16 = 0x10;

// Information flags (spec 3.3): which fields of the structure are valid.
pub(super) const MBI_MEMORY: u32 = 1 << 0;
pub(super) const MBI_CMDLINE: u32 = 1 << 2;
pub(super) const MBI_MODULES: u32 = 1 << 3;
pub(super) const MBI_MEMORY_MAP: u32 = 1 << 6;
pub(super) const MBI_LOADER_NAME: u32 = 1 << 9;

// Offsets of the information structure's fields (spec 3.3), from its start.
const MBI_FLAGS: usize = 0;
const MBI_MEM_LOWER: usize = 4;
const MBI_MEM_UPPER: usize = 8;
const MBI_CMDLINE_PTR: usize = 16;
const MBI_MODS_COUNT: usize = 20;
const MBI_MODS_ADDR: usize = 24;
const MBI_MMAP_LENGTH: usize = 44;
const MBI_MMAP_ADDR: usize = 48;
const MBI_BOOT_LOADER_NAME: usize = 64;

/// A module list entry (spec 3.3, "mods"): `mod_start`, `mod_end`, `string`, reserved.
const MODULE_ENTRY_SIZE: usize = 16;
/// A memory map entry as mini-kvm writes it: `size`, then `base_addr`, `length` and `type`,
/// whose 20 bytes `size` counts (spec 3.3, "mmap": `size` does not count itself).
const MMAP_ENTRY_SIZE: usize = 24;
const MMAP_ENTRY_SIZE_FIELD: u32 = 20;

/// Memory map entry types (spec 3.3): 1 is available RAM, anything else reserved.
const MEMORY_AVAILABLE: u32 = 1;
const MEMORY_RESERVED: u32 = 2;

/// Usable RAM ends where the EBDA and the BIOS area would be on a PC.
const LOW_MEMORY_END: u64 = 0x9_FC00;
/// The EBDA ends where the VGA window and the option ROMs start.
const EBDA_END: u64 = 0xA_0000;
/// The system BIOS, the last 64 KiB below 1 MiB.
const BIOS_AREA: u64 = 0xF_0000;
const BIOS_AREA_SIZE: u64 = 0x1_0000;
/// Upper memory starts at 1 MiB: `mem_upper` counts from here.
pub(super) const HIGH_MEMORY_START: u64 = 0x10_0000;

/// The loader's name, for `boot_loader_name`.
const LOADER_NAME: &str = concat!("mini-kvm ", env!("CARGO_PKG_VERSION"));

/// Builds the boot area (GDT, information structure, memory map, strings, module list) as the
/// bytes to copy to [`BOOT_AREA`], for a guest whose RAM mapping is `mapping` bytes and which
/// has `modules` (start, end, name) loaded. Pure: tested on a buffer.
pub fn build_boot_area(
    mapping: u64,
    cmdline: &str,
    modules: &[(u64, u64, &str)],
) -> Result<Vec<u8>, MultibootError> {
    let mut area = BootArea::new();
    area.write_gdt();
    let mut flags = MBI_MEMORY | MBI_MEMORY_MAP | MBI_LOADER_NAME | MBI_CMDLINE;
    area.write_memory_sizes(mapping);
    let cmd = area.string(cmdline)?;
    area.put32(INFO_OFFSET + MBI_CMDLINE_PTR, cmd);
    if !modules.is_empty() {
        area.write_modules(modules)?;
        flags |= MBI_MODULES;
    }
    area.write_memory_map(&memory_map(mapping));
    let name = area.string(LOADER_NAME)?;
    area.put32(INFO_OFFSET + MBI_BOOT_LOADER_NAME, name);
    area.put32(INFO_OFFSET + MBI_FLAGS, flags);
    Ok(area.bytes)
}

/// The memory map (spec 3.3, "mmap_*"), as (base, length, type): conventional memory, the
/// EBDA and BIOS areas a PC reserves, RAM from 1 MiB to the hole below 4 GiB, and RAM above
/// the hole if there is any (memory.rs: one mapping, guest-physical == offset).
fn memory_map(mapping: u64) -> Vec<(u64, u64, u32)> {
    let low = mapping.min(LOW_RAM_END);
    let high = mapping.saturating_sub(HIGH_RAM_START);
    let mut map = vec![
        (0, LOW_MEMORY_END, MEMORY_AVAILABLE),
        (LOW_MEMORY_END, EBDA_END - LOW_MEMORY_END, MEMORY_RESERVED),
        (BIOS_AREA, BIOS_AREA_SIZE, MEMORY_RESERVED),
        (
            HIGH_MEMORY_START,
            low.saturating_sub(HIGH_MEMORY_START),
            MEMORY_AVAILABLE,
        ),
    ];
    if high > 0 {
        map.push((HIGH_RAM_START, high, MEMORY_AVAILABLE));
    }
    map
}

/// The boot area while it is filled: its bytes and the next free byte of the string space.
struct BootArea {
    bytes: Vec<u8>,
    next_string: usize,
}

impl BootArea {
    fn new() -> Self {
        BootArea {
            bytes: vec![0u8; BOOT_AREA_SIZE],
            next_string: STRINGS_OFFSET,
        }
    }

    /// The guest-physical address of byte `offset` of the area (below 1 MiB: fits 32 bits).
    fn gpa(offset: usize) -> u32 {
        (BOOT_AREA + offset as u64) as u32
    }

    fn put32(&mut self, at: usize, v: u32) {
        self.bytes[at..at + 4].copy_from_slice(&v.to_le_bytes());
    }

    fn put64(&mut self, at: usize, v: u64) {
        self.bytes[at..at + 8].copy_from_slice(&v.to_le_bytes());
    }

    /// Copies `s` with its NUL into the string space (a bump allocator in the rest of the
    /// area) and returns its address: the spec's strings are C strings.
    fn string(&mut self, s: &str) -> Result<u32, MultibootError> {
        let at = self.next_string;
        let end = at
            .checked_add(s.len())
            .and_then(|end| end.checked_add(1))
            .filter(|&end| end <= BOOT_AREA_SIZE && !s.contains('\0'))
            .ok_or(MultibootError::StringsTooLong)?;
        self.bytes[at..at + s.len()].copy_from_slice(s.as_bytes());
        self.next_string = end;
        Ok(Self::gpa(at))
    }

    /// The GDT [`super::set_sregs`] loads into GDTR.
    fn write_gdt(&mut self) {
        for (i, entry) in GDT.iter().enumerate() {
            self.put64(GDT_OFFSET + 8 * i, *entry);
        }
    }

    /// `mem_lower` (KiB from 0) and `mem_upper` (KiB from 1 MiB to the first hole): spec 3.3,
    /// the fields the header's bit 1 (memory information) asks for.
    fn write_memory_sizes(&mut self, mapping: u64) {
        let low = mapping.min(LOW_RAM_END);
        self.put32(INFO_OFFSET + MBI_MEM_LOWER, (LOW_MEMORY_END / 1024) as u32);
        let upper_kib = (low.saturating_sub(HIGH_MEMORY_START) / 1024).min(u32::MAX.into()) as u32;
        self.put32(INFO_OFFSET + MBI_MEM_UPPER, upper_kib);
    }

    /// The module list (spec 3.3, "mods_count", "mods_addr"): each module's first and last+1
    /// physical byte and its string.
    fn write_modules(&mut self, modules: &[(u64, u64, &str)]) -> Result<(), MultibootError> {
        if modules.len() > MAX_MODULES {
            return Err(MultibootError::TooManyModules);
        }
        self.put32(INFO_OFFSET + MBI_MODS_COUNT, modules.len() as u32);
        self.put32(INFO_OFFSET + MBI_MODS_ADDR, Self::gpa(MODULES_OFFSET));
        for (i, (start, end, name)) in modules.iter().enumerate() {
            let m = MODULES_OFFSET + MODULE_ENTRY_SIZE * i;
            self.put32(m, *start as u32);
            self.put32(m + 4, *end as u32);
            let s = self.string(name)?;
            self.put32(m + 8, s);
        }
        Ok(())
    }

    /// The memory map (spec 3.3, "mmap_length", "mmap_addr").
    fn write_memory_map(&mut self, map: &[(u64, u64, u32)]) {
        for (i, (base, len, kind)) in map.iter().enumerate() {
            let e = MMAP_OFFSET + MMAP_ENTRY_SIZE * i;
            self.put32(e, MMAP_ENTRY_SIZE_FIELD);
            self.put64(e + 4, *base);
            self.put64(e + 12, *len);
            self.put32(e + 20, *kind);
        }
        let length = (MMAP_ENTRY_SIZE * map.len()) as u32;
        self.put32(INFO_OFFSET + MBI_MMAP_LENGTH, length);
        self.put32(INFO_OFFSET + MBI_MMAP_ADDR, Self::gpa(MMAP_OFFSET));
    }
}
