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
//! structure, the memory map and the strings ([`boot_area`]). Modules go page-aligned after the
//! kernel.

mod boot_area;

pub(super) use boot_area::BOOT_AREA_SIZE;
pub use boot_area::{build_boot_area, BOOT_AREA, CODE_SELECTOR, DATA_SELECTOR, MAX_MODULES};
use boot_area::{GDT, GDT_OFFSET, HIGH_MEMORY_START, INFO_OFFSET};

use super::elf;
use super::error::{Contents, ElfError, MultibootError};
use super::kernel::{self, HaltCheck};
use super::Opened;
use super::{flat_segment, set_data_segments};
use crate::cli::Config;
use crate::error::Ending;
use crate::guests::Image;
use crate::kvm::bindings::{kvm_regs, kvm_sregs};
use crate::kvm::Vcpu;
use crate::machine::{Boot, Layer, Layout, Setup, Stops};
use crate::memory::GuestMemory;
use crate::vcpu::{Control, VcpuHook};
use crate::x86::{CR0_ET, CR0_PE, CR0_PG, RFLAGS_RESERVED1};
use std::sync::Arc;

/// The header magic a kernel carries.
pub const HEADER_MAGIC: u32 = 0x1BAD_B002;
/// What the loader puts in EAX to say "you were booted by a Multiboot loader".
pub const BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;
/// The header must lie, 4-byte aligned, within the first 8 KiB of the file.
const HEADER_SEARCH: usize = 8192;
/// Magic, flags and checksum: the part every header has (spec 3.1.1).
const HEADER_SIZE: usize = 12;

// Header flags (spec 3.1.2).
const HF_PAGE_ALIGN_MODULES: u32 = 1 << 0;
const HF_MEMORY_INFO: u32 = 1 << 1;
/// Bit 2 asks for video mode information; mini-kvm has no display, and gives none.
const HF_VIDEO_MODE: u32 = 1 << 2;
const HF_ADDRESS_FIELDS: u32 = 1 << 16;
/// Bits 0-15 are requirements: a loader must refuse a kernel asking for one it does not know.
const HF_REQUIREMENTS: u32 = 0xFFFF;
const HF_KNOWN_REQUIREMENTS: u32 = HF_PAGE_ALIGN_MODULES | HF_MEMORY_INFO | HF_VIDEO_MODE;

/// A kernel's Multiboot header.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
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

/// Looks for a Multiboot header (spec 3.1.1: the magic, 32-bit aligned, within the first
/// 8 KiB). `Ok(None)`: there is none (not a Multiboot kernel); `Err`: there is one, but it is
/// broken.
pub fn find_header(bytes: &[u8]) -> Result<Option<Header>, MultibootError> {
    let end = bytes.len().min(HEADER_SEARCH);
    let found = (0..end.saturating_sub(HEADER_SIZE - 1))
        .step_by(4)
        .find(|&offset| le32(bytes, offset) == Some(HEADER_MAGIC));
    match found {
        Some(offset) => read_header(bytes, offset).map(Some),
        None => Ok(None),
    }
}

/// Checks the header whose magic is at `offset` (spec 3.1.2: the checksum, the requirement
/// flags) and reads its address fields if bit 16 says they are there.
fn read_header(bytes: &[u8], offset: usize) -> Result<Header, MultibootError> {
    // `offset` is below HEADER_SEARCH (8 KiB): these sums are small.
    let flags = le32(bytes, offset + 4).unwrap_or(0);
    let checksum = le32(bytes, offset + 8).unwrap_or(0);
    if HEADER_MAGIC.wrapping_add(flags).wrapping_add(checksum) != 0 {
        return Err(MultibootError::BadChecksum { offset });
    }
    let unknown = flags & HF_REQUIREMENTS & !HF_KNOWN_REQUIREMENTS;
    if unknown != 0 {
        return Err(MultibootError::UnknownRequirements { flags: unknown });
    }
    let mut header = Header { offset, flags, ..Header::default() };
    if flags & HF_ADDRESS_FIELDS != 0 {
        // The five fields follow magic, flags and checksum (spec 3.1.3, offsets 12-28).
        let field = |i: usize| le32(bytes, offset + HEADER_SIZE + 4 * i);
        let missing = || MultibootError::AddressFieldsCutOff;
        header.header_addr = field(0).ok_or_else(missing)?;
        header.load_addr = field(1).ok_or_else(missing)?;
        header.load_end_addr = field(2).ok_or_else(missing)?;
        header.bss_end_addr = field(3).ok_or_else(missing)?;
        header.entry_addr = field(4).ok_or_else(missing)?;
    }
    Ok(header)
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
    /// The first byte after the range: `addr` + the file bytes + `zeros`, checked when the
    /// placement is made ([`Placement::new`]).
    end: u64,
}

impl<'a> Placement<'a> {
    /// `data` at `addr`, followed by `zeros` zero bytes; an error if that wraps around the
    /// address space.
    fn new(addr: u64, data: &'a [u8], zeros: u64) -> Result<Self, MultibootError> {
        let end = (data.len() as u64)
            .checked_add(zeros)
            .ok_or(MultibootError::SegmentSizeOverflows)?
            .checked_add(addr)
            .ok_or(MultibootError::Wraps { what: Contents::KernelSegment, addr })?;
        Ok(Placement { addr, data, end })
    }
}

/// Checks that `addr..addr+len` is inside RAM and clear of mini-kvm's boot area.
fn check_range(what: Contents, addr: u64, len: u64, ram: u64) -> Result<(), MultibootError> {
    let Some(end) = addr.checked_add(len) else { return Err(MultibootError::Wraps { what, addr }) };
    if end > ram {
        return Err(MultibootError::OutsideRam { what, addr, end, ram });
    }
    let boot_end = BOOT_AREA + BOOT_AREA_SIZE as u64;
    if addr < boot_end && end > BOOT_AREA && len > 0 {
        return Err(MultibootError::OverlapsBootArea { what, addr, end });
    }
    Ok(())
}

/// Works out where the kernel's bytes go, from its header's address fields or its ELF program
/// headers (spec 3.1.3: the address fields win when bit 16 is set), checks that they fit, and
/// returns the placements and the entry point.
fn plan<'a>(
    bytes: &'a [u8],
    header: &Header,
    ram: u64,
) -> Result<(Vec<Placement<'a>>, u32), MultibootError> {
    let (placements, entry) = if header.flags & HF_ADDRESS_FIELDS != 0 {
        let (placement, entry) = place_by_address_fields(bytes, header)?;
        (vec![placement], entry)
    } else {
        place_by_elf(bytes)?
    };
    check_placements(&placements, ram)?;
    let entry = check_entry(&placements, entry)?;
    Ok((placements, entry))
}

/// The a.out kludge (spec 3.1.3, header fields at offsets 12-28): `header_addr` is where the
/// header itself lands, so the file from `header_addr - load_addr` bytes before the header up
/// to `load_end_addr` (0: the end of the file) is loaded at `load_addr`, followed by zeros up
/// to `bss_end_addr`. Returns the one placement and `entry_addr`.
fn place_by_address_fields<'a>(
    bytes: &'a [u8],
    h: &Header,
) -> Result<(Placement<'a>, u64), MultibootError> {
    let file_start = (h.offset as u64)
        .checked_sub(u64::from(h.header_addr.wrapping_sub(h.load_addr)))
        .filter(|_| h.header_addr >= h.load_addr)
        .ok_or(MultibootError::HeaderBelowLoad)?;
    let load_end = if h.load_end_addr == 0 {
        (bytes.len() as u64)
            .checked_sub(file_start)
            .and_then(|rest| rest.checked_add(h.load_addr.into()))
            .ok_or(MultibootError::AddressFieldsPastFile)?
    } else {
        u64::from(h.load_end_addr)
    };
    let len =
        load_end.checked_sub(u64::from(h.load_addr)).ok_or(MultibootError::LoadEndBelowLoad)?;
    let data = file_start
        .checked_add(len)
        .and_then(|end| usize::try_from(end).ok())
        .and_then(|end| bytes.get(usize::try_from(file_start).ok()?..end))
        .ok_or(MultibootError::AddressFieldsPastFile)?;
    let zeros = u64::from(h.bss_end_addr).saturating_sub(load_end);
    let placement = Placement::new(h.load_addr.into(), data, zeros)?;
    Ok((placement, u64::from(h.entry_addr)))
}

/// An ELF kernel (spec 3.1.3: without bit 16 the loader reads the ELF headers): one placement
/// per PT_LOAD segment at its physical address, and the ELF entry point. elf::parse has
/// checked that each segment's file bytes lie inside the file and `filesz <= memsz`; the
/// checks here repeat that without trusting it.
fn place_by_elf(bytes: &[u8]) -> Result<(Vec<Placement<'_>>, u64), MultibootError> {
    let image = elf::parse(bytes)?;
    let placements = image
        .segments
        .iter()
        .enumerate()
        .map(|(index, seg)| {
            let past_end = ElfError::SegmentPastEnd {
                index: index as u64,
                offset: seg.offset,
                filesz: seg.filesz,
            };
            let data = seg
                .offset
                .checked_add(seg.filesz)
                .and_then(|end| usize::try_from(end).ok())
                .and_then(|end| bytes.get(usize::try_from(seg.offset).ok()?..end))
                .ok_or(past_end)?;
            let zeros = seg
                .memsz
                .checked_sub(seg.filesz)
                .ok_or(ElfError::SegmentFileBytesExceedMemory { index: index as u64 })?;
            Placement::new(seg.paddr, data, zeros)
        })
        .collect::<Result<_, MultibootError>>()?;
    Ok((placements, image.entry))
}

/// Each placement lies inside RAM and outside the boot area, and no two overlap.
fn check_placements(placements: &[Placement<'_>], ram: u64) -> Result<(), MultibootError> {
    for p in placements {
        // Placement::new checked that `end` does not wrap.
        check_range(Contents::KernelSegment, p.addr, p.end - p.addr, ram)?;
    }
    // The bss is never written (load() relies on fresh RAM being zero), so a segment whose bytes
    // fell inside another's bss would survive where a zeroing loader would clear them: refuse
    // the overlap instead of depending on the order.
    for (i, a) in placements.iter().enumerate() {
        for b in &placements[i + 1..] {
            let (a_end, b_end) = (a.end, b.end);
            if a.addr < b_end && b.addr < a_end {
                return Err(MultibootError::SegmentsOverlap { a: a.addr, a_end, b: b.addr, b_end });
            }
        }
    }
    Ok(())
}

/// The entry point lies inside the loaded kernel and below 4 GiB: the kernel starts in 32-bit
/// protected mode with paging off (spec 3.2), so EIP is a physical address.
fn check_entry(placements: &[Placement<'_>], entry: u64) -> Result<u32, MultibootError> {
    let inside = placements.iter().any(|p| entry >= p.addr && entry < p.end);
    match u32::try_from(entry) {
        Ok(entry) if inside => Ok(entry),
        _ => Err(MultibootError::EntryOutsideKernel { entry }),
    }
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
        end = end.max(p.end);
    }
    let mut list = Vec::with_capacity(modules.len());
    for m in modules {
        let what = || Contents::Module(m.name.clone());
        // Page-aligned, as the header's bit 0 asks.
        let start = end
            .checked_next_multiple_of(0x1000)
            .ok_or(MultibootError::Wraps { what: what(), addr: end })?;
        let len = m.bytes.len() as u64;
        check_range(what(), start, len, ram)?;
        memory.write(start, &m.bytes)?;
        end = start + len; // check_range: it does not wrap
        list.push((start, end, m.name.as_str()));
    }
    let area = build_boot_area(memory.size(), cmdline, &list)?;
    memory.write(BOOT_AREA, &area)?;
    Ok(Loaded { entry, info_addr: (BOOT_AREA + INFO_OFFSET as u64) as u32, end })
}

/// The machine state of spec 3.2: flat 32-bit segments, CR0.PE on, paging off.
// [tour:protected-mode-sregs]
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
// [/tour:protected-mode-sregs]

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

/// A Multiboot kernel, its modules and command line, as a [`Boot`]: the machine of a PC with
/// `ram` bytes (boot/kernel.rs adds its interrupt controllers, CPUID and halt watch).
pub struct Multiboot {
    image: Image,
    header: Header,
    modules: Vec<Module>,
    cmdline: String,
    ram: u64,
    loaded: Option<Loaded>,
    /// `--cpus`: vCPU 0 boots, the others wait for the kernel to start them; `smp`: it was
    /// given, and the kernel gets an MP table.
    cpus: usize,
    smp: bool,
    halts: HaltCheck,
}

/// At most this many bytes of `--cmdline`, and of module names together.
pub const MAX_CMDLINE: usize = 4096;
pub const MAX_MODULE_NAMES: usize = 16 * 1024;

/// The kernel among `opened` (it runs alone), with `--mem`, `--cmdline` and `--module`: every
/// size checked before any file is read.
pub fn choose(
    config: &Config,
    opened: Vec<Opened>,
    stops: &Stops,
) -> Result<Box<dyn Boot>, Ending> {
    if opened.len() > 1 {
        return Err(Ending::Usage(
            "a Multiboot kernel runs alone: give it as the only guest".into(),
        ));
    }
    if config.flag("--long-mode") || config.flag("--paging") {
        return Err(Ending::Usage("--long-mode and --paging are for flat binaries; a Multiboot kernel sets up its own CPU mode".into()));
    }
    let kernel = opened.into_iter().next().ok_or_else(|| Ending::Usage("no guest given".into()))?;
    let header = match find_header(kernel.head()) {
        Ok(Some(header)) => header,
        Ok(None) => return Err(kernel.error("is an ELF file without a Multiboot header in its first 8 KiB: mini-kvm boots ELF kernels through Multiboot")),
        Err(why) => return Err(kernel.error(why)),
    };
    let ram = config.value("--mem").map(super::parse_mem).transpose()?;
    let ram = ram.unwrap_or(super::DEFAULT_KERNEL_RAM);
    let low = super::low_ram(ram);
    let what = match (low < ram, config.flag("--mem")) {
        (true, _) => {
            format!("the {low} bytes of guest RAM below 4 GiB, where a Multiboot kernel loads")
        }
        (false, given) => format!(
            "the {ram} bytes of guest RAM a Multiboot kernel gets ({})",
            if given { "--mem" } else { "the default; see --mem" }
        ),
    };
    kernel.fits(low, &what)?;
    let cpus = config.flag("--cpus").then(|| crate::smp::count(config)).transpose()?;
    let cpus = cpus.unwrap_or(1);
    let cmdline = config.value("--cmdline").unwrap_or("").to_string();
    super::check_cmdline(&cmdline)?;
    let names: Vec<&str> = config.values("--module").collect();
    if names.len() > MAX_MODULES {
        return Err(Ending::Usage(format!(
            "more than {MAX_MODULES} --module files; a Multiboot kernel gets at most {MAX_MODULES}"
        )));
    }
    let name_bytes = names.iter().map(|n| n.len() + 1).sum::<usize>();
    if name_bytes > MAX_MODULE_NAMES {
        return Err(Ending::Usage(format!("the --module file names are {name_bytes} bytes together; at most {MAX_MODULE_NAMES} fit in the boot information")));
    }
    let opened_modules = names.iter().map(|n| super::open(n)).collect::<Result<Vec<_>, _>>()?;
    let mut total = kernel.len() + cmdline.len() as u64;
    for m in &opened_modules {
        total = total.saturating_add(m.len());
        if total > low {
            let reason = format!("is {} bytes: with the kernel, the command line and the modules before it that makes {total} bytes, more than the {low} bytes of guest RAM (see --mem)", m.len());
            return Err(m.error(reason));
        }
    }
    if cpus > 1 {
        crate::smp::check_host(cpus)?;
    }
    let image = kernel.read(stops)?;
    let mut modules = Vec::new();
    for (name, m) in names.iter().zip(opened_modules) {
        modules.push(Module { name: name.to_string(), bytes: m.read(stops)?.bytes.into_owned() });
    }
    let (smp, halts) = (config.flag("--cpus"), HaltCheck::new(cpus));
    Ok(Box::new(Multiboot { image, header, modules, cmdline, ram, loaded: None, cpus, smp, halts }))
}

impl Layer for Multiboot {
    fn after_memory(&mut self, m: &mut Setup) -> Result<(), Ending> {
        kernel::interrupt_controllers(m, false)?;
        if self.ram > super::LOW_RAM_END {
            let (vm, memory) = (Arc::clone(m.vm), Arc::clone(m.memory));
            let (gpa, size) = (super::HIGH_RAM_START, self.ram - super::LOW_RAM_END);
            let high =
                kernel::HighRam { vm, memory, slot: 1, gpa, size, added: Default::default() };
            m.bus.add_mmio(Arc::new(high));
        }
        Ok(())
    }

    fn after_vcpus(&mut self, m: &mut Setup, vcpus: &mut [Vcpu]) -> Result<(), Ending> {
        kernel::cpuid(m, vcpus, |_| {})?;
        kernel::wire_cpus(vcpus)
    }

    fn vcpu_hook(&mut self, index: usize) -> Option<Box<dyn VcpuHook>> {
        Some(self.halts.hook(index, false))
    }

    fn tick(&mut self, control: &Control) {
        self.halts.tick(control);
    }
}

impl Boot for Multiboot {
    fn layout(&self) -> Layout {
        Layout { ram: super::mapping_size(self.ram), slots: vec![(0, super::low_ram(self.ram))] }
    }

    fn names(&self) -> Vec<String> {
        vec![self.image.name.clone(); self.cpus]
    }

    fn one_guest(&self) -> bool {
        true
    }

    fn load(&mut self, memory: &GuestMemory) -> Result<(), Ending> {
        let loaded = load(memory, &self.image.bytes, &self.header, &self.cmdline, &self.modules)
            .map_err(|e| self.image.error(e))?;
        if self.smp {
            crate::smp::write_tables(memory, self.cpus)?;
        }
        crate::console::note(|| {
            let from = self.image.path.as_deref().unwrap_or("embedded");
            format!("vCPU 0 ({}): {} bytes from {from}; Multiboot: 32-bit protected mode, paging off, EIP {:#x}, EAX {BOOTLOADER_MAGIC:#x}, EBX {:#x} (boot information), kernel and modules end at {:#x}", self.image.name, self.image.bytes.len(), loaded.entry, loaded.info_addr, loaded.end)
        });
        self.loaded = Some(loaded);
        Ok(())
    }

    fn start(&self, index: usize, vcpu: &Vcpu) -> Result<(), Ending> {
        if index > 0 {
            return Ok(()); // an application processor: the kernel starts it (smp/mod.rs)
        }
        let loaded = self.loaded.ok_or_else(|| Ending::Host("the kernel is not loaded".into()))?;
        let mut sregs = vcpu.get_sregs()?;
        set_sregs(&mut sregs);
        vcpu.set_sregs(&sregs)?;
        vcpu.set_regs(&initial_regs(&loaded)).map_err(Ending::from)
    }
}
