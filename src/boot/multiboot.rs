//! Multiboot v1: the boot protocol GRUB, QEMU's `-kernel` and mini-kvm share.
//!
//! Reference: the Multiboot Specification version 0.6.96 (GNU GRUB manual, "Multiboot
//! Specification": 3.1 the OS image format, 3.2 the machine state, 3.3 the boot information).
//!
//! A Multiboot kernel carries a 12-byte header (magic 0x1BADB002, flags, checksum — the three
//! sum to zero) in its first 8 KiB. The loader places the kernel's segments in memory, writes a
//! "Multiboot information" structure describing the machine (memory size and map, command line,
//! modules), and jumps to the entry point in 32-bit protected mode with paging off, EAX =
//! 0x2BADB002 and EBX = the information's physical address. Everything after that — GDT, IDT,
//! paging, long mode — is the kernel's job, which is why one kernel boots under GRUB, QEMU and
//! mini-kvm alike.
//!
//! mini-kvm places its part of memory in one fixed area below 1 MiB ([`BOOT_AREA`]): a small
//! GDT (the spec lets GDTR be anything; a valid one spares kernels a surprise), the information
//! structure, the memory map and the strings. Modules go page-aligned after the kernel.

use super::elf;
use super::error::{Contents, MultibootError};
use super::{flat_segment, set_data_segments};
use crate::kvm::bindings::{kvm_regs, kvm_sregs};
use crate::memory::GuestMemory;
use crate::x86::{CR0_ET, CR0_PE, CR0_PG, RFLAGS_RESERVED1};

/// The header magic a kernel carries.
pub const HEADER_MAGIC: u32 = 0x1BAD_B002;
/// What the loader puts in EAX to say "you were booted by a Multiboot loader".
pub const BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;
/// The header must lie, 4-byte aligned, within the first 8 KiB of the file.
const HEADER_SEARCH: usize = 8192;

// Header flags (spec 3.1.2).
const HF_PAGE_ALIGN_MODULES: u32 = 1 << 0;
const HF_MEMORY_INFO: u32 = 1 << 1;
const HF_ADDRESS_FIELDS: u32 = 1 << 16;
/// Bits 0-15 are requirements: a loader must refuse a kernel asking for one it does not know.
const HF_KNOWN_REQUIREMENTS: u32 = HF_PAGE_ALIGN_MODULES | HF_MEMORY_INFO | (1 << 2);

// Information flags (spec 3.3): which fields of the structure are valid.
const MBI_MEMORY: u32 = 1 << 0;
const MBI_CMDLINE: u32 = 1 << 2;
const MBI_MODULES: u32 = 1 << 3;
const MBI_MEMORY_MAP: u32 = 1 << 6;
const MBI_LOADER_NAME: u32 = 1 << 9;

/// Memory map entry types.
const MEMORY_AVAILABLE: u32 = 1;
const MEMORY_RESERVED: u32 = 2;

/// Guest-physical area mini-kvm writes its boot data into: [0x8000, 0x10000).
pub const BOOT_AREA: u64 = 0x8000;
pub(super) const BOOT_AREA_SIZE: usize = 0x8000;
const GDT_OFFSET: usize = 0x0;
const INFO_OFFSET: usize = 0x40;
const MMAP_OFFSET: usize = 0x100;
const MODULES_OFFSET: usize = 0x200;
const STRINGS_OFFSET: usize = 0x400;
pub const MAX_MODULES: usize = (STRINGS_OFFSET - MODULES_OFFSET) / 16;

/// Flat 4 GiB segments: null, 0x08 32-bit code (execute/read), 0x10 32-bit data (read/write).
const GDT: [u64; 3] = [0, 0x00CF_9A00_0000_FFFF, 0x00CF_9200_0000_FFFF];
pub const CODE_SELECTOR: u16 = 0x08;
pub const DATA_SELECTOR: u16 = 0x10;

/// Usable RAM ends where the EBDA and the BIOS area would be on a PC.
const LOW_MEMORY_END: u64 = 0x9_FC00;
const HIGH_MEMORY_START: u64 = 0x10_0000;

/// A kernel's Multiboot header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Where in the file the header starts.
    pub offset: usize,
    pub flags: u32,
    pub header_addr: u32,
    pub load_addr: u32,
    pub load_end_addr: u32,
    pub bss_end_addr: u32,
    pub entry_addr: u32,
}

fn le32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Looks for a Multiboot header. `Ok(None)`: there is none (not a Multiboot kernel);
/// `Err`: there is one, but it is broken.
pub fn find_header(bytes: &[u8]) -> Result<Option<Header>, MultibootError> {
    let end = bytes.len().min(HEADER_SEARCH);
    for offset in (0..end.saturating_sub(11)).step_by(4) {
        if le32(bytes, offset) != Some(HEADER_MAGIC) {
            continue;
        }
        let flags = le32(bytes, offset + 4).unwrap_or(0);
        let checksum = le32(bytes, offset + 8).unwrap_or(0);
        if HEADER_MAGIC.wrapping_add(flags).wrapping_add(checksum) != 0 {
            return Err(MultibootError::BadChecksum { offset });
        }
        let unknown = flags & 0xFFFF & !HF_KNOWN_REQUIREMENTS;
        if unknown != 0 {
            return Err(MultibootError::UnknownRequirements { flags: unknown });
        }
        let field = |i: usize| le32(bytes, offset + 12 + 4 * i);
        let mut header = Header {
            offset,
            flags,
            header_addr: 0,
            load_addr: 0,
            load_end_addr: 0,
            bss_end_addr: 0,
            entry_addr: 0,
        };
        if flags & HF_ADDRESS_FIELDS != 0 {
            let missing = || MultibootError::AddressFieldsCutOff;
            header.header_addr = field(0).ok_or_else(missing)?;
            header.load_addr = field(1).ok_or_else(missing)?;
            header.load_end_addr = field(2).ok_or_else(missing)?;
            header.bss_end_addr = field(3).ok_or_else(missing)?;
            header.entry_addr = field(4).ok_or_else(missing)?;
        }
        return Ok(Some(header));
    }
    Ok(None)
}

/// A module to hand to the kernel: its bytes and its string (the file name, by convention).
pub struct Module {
    pub name: String,
    pub bytes: Vec<u8>,
}

/// Where the kernel landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Loaded {
    pub entry: u32,
    pub info_addr: u32,
    /// First byte after the kernel and its modules.
    pub end: u64,
}

/// One range of guest memory to fill: file bytes then zeros.
struct Placement<'a> {
    addr: u64,
    data: &'a [u8],
    zeros: u64,
}

/// Checks that `addr..addr+len` is inside RAM and clear of mini-kvm's boot area.
fn check_range(what: Contents, addr: u64, len: u64, ram: u64) -> Result<(), MultibootError> {
    let Some(end) = addr.checked_add(len) else {
        return Err(MultibootError::Wraps { what, addr });
    };
    if end > ram {
        return Err(MultibootError::OutsideRam {
            what,
            addr,
            end,
            ram,
        });
    }
    let boot_end = BOOT_AREA + BOOT_AREA_SIZE as u64;
    if addr < boot_end && end > BOOT_AREA && len > 0 {
        return Err(MultibootError::OverlapsBootArea { what, addr, end });
    }
    Ok(())
}

/// Works out where the kernel's bytes go, from its ELF program headers or its header's
/// address fields (spec 3.1.3); returns the placements and the entry point.
fn plan<'a>(
    bytes: &'a [u8],
    header: &Header,
    ram: u64,
) -> Result<(Vec<Placement<'a>>, u32), MultibootError> {
    let mut placements = Vec::new();
    let entry = if header.flags & HF_ADDRESS_FIELDS != 0 {
        let h = header;
        let file_start = (h.offset as u64)
            .checked_sub(u64::from(h.header_addr.wrapping_sub(h.load_addr)))
            .filter(|_| h.header_addr >= h.load_addr)
            .ok_or(MultibootError::HeaderBelowLoad)?;
        let load_end = if h.load_end_addr == 0 {
            u64::from(h.load_addr) + (bytes.len() as u64 - file_start)
        } else {
            u64::from(h.load_end_addr)
        };
        let len = load_end
            .checked_sub(u64::from(h.load_addr))
            .ok_or(MultibootError::LoadEndBelowLoad)?;
        let data = bytes
            .get(file_start as usize..(file_start + len) as usize)
            .ok_or(MultibootError::AddressFieldsPastFile)?;
        let zeros = u64::from(h.bss_end_addr).saturating_sub(load_end);
        placements.push(Placement {
            addr: h.load_addr.into(),
            data,
            zeros,
        });
        u64::from(h.entry_addr)
    } else {
        let image = elf::parse(bytes)?;
        for seg in &image.segments {
            let start = seg.offset as usize;
            placements.push(Placement {
                addr: seg.paddr,
                data: &bytes[start..start + seg.filesz as usize],
                zeros: seg.memsz - seg.filesz,
            });
        }
        image.entry
    };
    for p in &placements {
        let len = (p.data.len() as u64)
            .checked_add(p.zeros)
            .ok_or(MultibootError::SegmentSizeOverflows)?;
        check_range(Contents::KernelSegment, p.addr, len, ram)?;
    }
    // The bss is never written (load() relies on fresh RAM being zero), so a segment whose bytes
    // fell inside another's bss would survive where a zeroing loader would clear them: refuse
    // the overlap instead of depending on the order.
    for (i, a) in placements.iter().enumerate() {
        for b in &placements[i + 1..] {
            let (a_end, b_end) = (
                a.addr + a.data.len() as u64 + a.zeros,
                b.addr + b.data.len() as u64 + b.zeros,
            );
            if a.addr < b_end && b.addr < a_end {
                return Err(MultibootError::SegmentsOverlap {
                    a: a.addr,
                    a_end,
                    b: b.addr,
                    b_end,
                });
            }
        }
    }
    let inside = placements
        .iter()
        .any(|p| entry >= p.addr && entry < p.addr + p.data.len() as u64 + p.zeros);
    if !inside || entry > u64::from(u32::MAX) {
        return Err(MultibootError::EntryOutsideKernel { entry });
    }
    Ok((placements, entry as u32))
}

/// Builds the boot area (GDT, information structure, memory map, strings, module list) as the
/// bytes to copy to [`BOOT_AREA`]. Pure: tested on a buffer.
pub fn build_boot_area(
    mapping: u64,
    cmdline: &str,
    modules: &[(u64, u64, &str)],
) -> Result<Vec<u8>, MultibootError> {
    let mut area = vec![0u8; BOOT_AREA_SIZE];
    let put32 =
        |area: &mut Vec<u8>, at: usize, v: u32| area[at..at + 4].copy_from_slice(&v.to_le_bytes());
    let put64 =
        |area: &mut Vec<u8>, at: usize, v: u64| area[at..at + 8].copy_from_slice(&v.to_le_bytes());
    for (i, entry) in GDT.iter().enumerate() {
        put64(&mut area, GDT_OFFSET + 8 * i, *entry);
    }
    let gpa = |offset: usize| (BOOT_AREA + offset as u64) as u32;

    // Strings: a bump allocator in the rest of the area.
    let mut next = STRINGS_OFFSET;
    let mut string = |area: &mut Vec<u8>, s: &str| -> Result<u32, MultibootError> {
        let end = next + s.len() + 1;
        if end > BOOT_AREA_SIZE || s.contains('\0') {
            return Err(MultibootError::StringsTooLong);
        }
        area[next..next + s.len()].copy_from_slice(s.as_bytes());
        let at = gpa(next);
        next = end;
        Ok(at)
    };

    // RAM below the hole, and above it (memory.rs: one mapping, guest-physical == offset).
    let ram = mapping.min(super::LOW_RAM_END);
    let high = mapping.saturating_sub(super::HIGH_RAM_START);
    let info = INFO_OFFSET;
    let mut flags = MBI_MEMORY | MBI_MEMORY_MAP | MBI_LOADER_NAME | MBI_CMDLINE;
    put32(&mut area, info + 4, (LOW_MEMORY_END / 1024) as u32); // mem_lower, KiB from 0
    let upper_kib = (ram.saturating_sub(HIGH_MEMORY_START) / 1024).min(u32::MAX.into()) as u32;
    put32(&mut area, info + 8, upper_kib); // mem_upper, KiB from 1 MiB
    let cmd = string(&mut area, cmdline)?;
    put32(&mut area, info + 16, cmd);

    if !modules.is_empty() {
        if modules.len() > MAX_MODULES {
            return Err(MultibootError::TooManyModules);
        }
        flags |= MBI_MODULES;
        put32(&mut area, info + 20, modules.len() as u32);
        put32(&mut area, info + 24, gpa(MODULES_OFFSET));
        for (i, (start, end, name)) in modules.iter().enumerate() {
            let m = MODULES_OFFSET + 16 * i;
            put32(&mut area, m, *start as u32);
            put32(&mut area, m + 4, *end as u32);
            let s = string(&mut area, name)?;
            put32(&mut area, m + 8, s);
        }
    }

    // The memory map: each entry is size (of the rest, 20), base, length, type.
    let map = [
        (0, LOW_MEMORY_END, MEMORY_AVAILABLE),
        (LOW_MEMORY_END, 0xA_0000 - LOW_MEMORY_END, MEMORY_RESERVED),
        (0xF_0000, 0x1_0000, MEMORY_RESERVED),
        (
            HIGH_MEMORY_START,
            ram.saturating_sub(HIGH_MEMORY_START),
            MEMORY_AVAILABLE,
        ),
        (super::HIGH_RAM_START, high, MEMORY_AVAILABLE),
    ];
    let map = &map[..if high > 0 { 5 } else { 4 }];
    for (i, (base, len, kind)) in map.iter().enumerate() {
        let e = MMAP_OFFSET + 24 * i;
        put32(&mut area, e, 20);
        put64(&mut area, e + 4, *base);
        put64(&mut area, e + 12, *len);
        put32(&mut area, e + 20, *kind);
    }
    put32(&mut area, info + 44, (24 * map.len()) as u32);
    put32(&mut area, info + 48, gpa(MMAP_OFFSET));
    let name = string(&mut area, concat!("mini-kvm ", env!("CARGO_PKG_VERSION")))?;
    put32(&mut area, info + 64, name);
    put32(&mut area, info, flags);
    Ok(area)
}

/// Loads a Multiboot kernel and its modules into `memory` and writes the boot area.
pub fn load(
    memory: &GuestMemory,
    bytes: &[u8],
    header: &Header,
    cmdline: &str,
    modules: &[Module],
) -> Result<Loaded, MultibootError> {
    // Kernel and modules go below the 4 GiB hole (boot/mod.rs).
    let ram = super::low_ram(memory.size());
    if ram <= HIGH_MEMORY_START {
        return Err(MultibootError::TooLittleRam);
    }
    let (placements, entry) = plan(bytes, header, ram)?;
    let mut end = 0;
    for p in &placements {
        memory.write(p.addr, p.data)?;
        // The bss is not written: `memory` is a fresh anonymous mapping (memory.rs), zero until
        // touched, so zeroing it again would only make the host allocate every page of it
        // (3 GiB of RSS and seconds for a kernel whose bss ends near 3 GiB). plan() has
        // checked that the range lies inside RAM.
        end = end.max(p.addr + p.data.len() as u64 + p.zeros);
    }
    let mut list = Vec::with_capacity(modules.len());
    for m in modules {
        let start = (end + 0xFFF) & !0xFFF; // page-aligned, as the header's bit 0 asks
        let len = m.bytes.len() as u64;
        check_range(Contents::Module(m.name.clone()), start, len, ram)?;
        memory.write(start, &m.bytes)?;
        end = start + len;
        list.push((start, end, m.name.as_str()));
    }
    let area = build_boot_area(memory.size(), cmdline, &list)?;
    memory.write(BOOT_AREA, &area)?;
    Ok(Loaded {
        entry,
        info_addr: (BOOT_AREA + INFO_OFFSET as u64) as u32,
        end,
    })
}

/// The machine state of spec 3.2: flat 32-bit segments, CR0.PE on, paging off.
pub fn set_sregs(sregs: &mut kvm_sregs) {
    sregs.cs = flat_segment(CODE_SELECTOR, true, false);
    set_data_segments(sregs, flat_segment(DATA_SELECTOR, false, false));
    sregs.gdt.base = BOOT_AREA + GDT_OFFSET as u64;
    sregs.gdt.limit = (GDT.len() * 8 - 1) as u16;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cr0 = (sregs.cr0 | CR0_PE | CR0_ET) & !CR0_PG;
    sregs.cr4 = 0;
    sregs.efer = 0;
}

/// EAX = magic, EBX = the information structure, EIP = entry, interrupts off.
pub fn initial_regs(loaded: &Loaded) -> kvm_regs {
    kvm_regs {
        rax: BOOTLOADER_MAGIC.into(),
        rbx: loaded.info_addr.into(),
        rip: loaded.entry.into(),
        rflags: RFLAGS_RESERVED1,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests;
