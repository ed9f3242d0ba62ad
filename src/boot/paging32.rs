//! 32-bit protected mode with paging set up by the VMM (the C VMM's `--paging`).
//!
//! Classic 32-bit paging (Intel SDM Vol. 3A, 4.3): CR3 points to a page directory of 1024
//! entries, each pointing to a page table of 1024 entries, each mapping one 4 KiB page; CR4.PAE
//! is 0. The C VMM builds, for a kernel linked at 0x80001000 and loaded at physical 0x1000:
//!
//! * a GDT at 0x500 (null, ring-0 code 0x08 and data 0x10, ring-3 code 0x18 and data 0x20, all
//!   flat) and a zeroed 256-entry IDT at 0x528;
//! * a page directory at 0x100000 whose entry 0 (0-4 MiB) and entry 512 (0x80000000-0x803FFFFF)
//!   both point to page tables mapping physical 0-4 MiB (at 0x101000 and 0x102000).
//!
//! Some KVMs cannot run this at all: a paravirtual KVM drops CR0.PG set through KVM_SET_SREGS
//! in 32-bit mode, PAE or not (docs/kvm-variants.md). mini-kvm reads CR0 back and stops with a
//! clear message instead of letting the guest triple-fault.

use super::error::PagingImageError;
use super::Opened;
use super::{flat_segment, set_data_segments};
use crate::cli::Config;
use crate::error::Ending;
use crate::guests::Image;
use crate::kvm::bindings::{kvm_regs, kvm_sregs};
use crate::kvm::Vcpu;
use crate::machine::{Boot, Layer, Layout, Setup, Stops};
use crate::memory::GuestMemory;
use crate::x86::{CR0_ET, CR0_PE, CR0_PG, RFLAGS_RESERVED1};

pub const MEMORY_SIZE: u64 = 4 << 20;
pub const GDT_ADDR: u64 = 0x500;
pub const IDT_ADDR: u64 = 0x528;
const IDT_SIZE: u64 = 256 * 8;
pub const PAGE_DIRECTORY: u64 = 0x10_0000;
/// The page directory and its two page tables: 3 pages from PAGE_DIRECTORY.
pub const TABLES_SIZE: usize = 0x3000;
const KERNEL_BASE: u64 = 0x8000_0000;

const PDE_PRESENT: u32 = 1 << 0;
const PDE_WRITABLE: u32 = 1 << 1;

/// Flat descriptors: null, ring-0 code, ring-0 data, ring-3 code, ring-3 data.
pub const GDT: [u64; 5] =
    [0, 0x00CF_9A00_0000_FFFF, 0x00CF_9200_0000_FFFF, 0x00CF_FA00_0000_FFFF, 0x00CF_F200_0000_FFFF];
/// The ring-0 code and data selectors: GDT entries 1 and 2.
const CODE_SELECTOR: u16 = 0x08;
const DATA_SELECTOR: u16 = 0x10;

/// Builds the page directory and its two page tables (3 pages, at PAGE_DIRECTORY). Pure.
// [tour:paging32-tables]
pub fn build_tables(pages: &mut [u8; TABLES_SIZE]) {
    let mut put = |page: usize, index: usize, value: u32| {
        let at = page * 0x1000 + index * 4;
        pages[at..at + 4].copy_from_slice(&value.to_le_bytes());
    };
    let flags = PDE_PRESENT | PDE_WRITABLE;
    let pt_low = (PAGE_DIRECTORY + 0x1000) as u32;
    let pt_high = (PAGE_DIRECTORY + 0x2000) as u32;
    put(0, 0, pt_low | flags);
    put(0, (KERNEL_BASE >> 22) as usize, pt_high | flags);
    for i in 0..1024 {
        let frame = (i as u32) << 12;
        put(1, i, frame | flags);
        put(2, i, frame | flags);
    }
}
// [/tour:paging32-tables]

/// The C VMM's GDT as bytes, for GDT_ADDR.
pub fn gdt_bytes() -> Vec<u8> {
    GDT.iter().flat_map(|d| d.to_le_bytes()).collect()
}

/// Checks that a kernel of `len` bytes at physical `load` stays clear of the GDT/IDT, the page
/// tables and the end of memory.
pub fn check_image(load: u64, len: u64) -> Result<(), PagingImageError> {
    let end = load.checked_add(len).ok_or(PagingImageError::LoadOverflows)?;
    let busy = [
        (GDT_ADDR, IDT_ADDR + IDT_SIZE, "the GDT and IDT"),
        (PAGE_DIRECTORY, PAGE_DIRECTORY + TABLES_SIZE as u64, "the page tables"),
    ];
    for (start, stop, what) in busy {
        if load < stop && end > start {
            return Err(PagingImageError::Overlaps { load, end, what, start, stop });
        }
    }
    if end > MEMORY_SIZE {
        return Err(PagingImageError::PastMemory { load });
    }
    Ok(())
}

pub fn set_sregs(sregs: &mut kvm_sregs) {
    sregs.cs = flat_segment(CODE_SELECTOR, true, false);
    set_data_segments(sregs, flat_segment(DATA_SELECTOR, false, false));
    sregs.gdt.base = GDT_ADDR;
    sregs.gdt.limit = (GDT.len() * 8 - 1) as u16;
    sregs.idt.base = IDT_ADDR;
    sregs.idt.limit = (IDT_SIZE - 1) as u16;
    sregs.cr3 = PAGE_DIRECTORY;
    sregs.cr4 = 0;
    sregs.efer = 0;
    sregs.cr0 = CR0_PG | CR0_ET | CR0_PE;
}

pub fn initial_regs(entry: u64) -> kvm_regs {
    kvm_regs { rip: entry, rsp: 0, rflags: RFLAGS_RESERVED1, ..Default::default() }
}

/// The message for a host whose KVM dropped CR0.PG (exit status 4).
pub fn unsupported_here(cr0_read_back: u64) -> String {
    format!(
        "this host's KVM cannot run 32-bit paged guests: it dropped CR0.PG \
         (CR0 set to {:#x}, read back {cr0_read_back:#x}), as paravirtual and some nested KVMs do; \
         `mini-kvm os-1k` is the 64-bit OS that runs everywhere",
        CR0_PG | CR0_ET | CR0_PE
    )
}

/// A flat 32-bit kernel with paging on (`--paging`), as a [`Boot`]: one guest in 4 MiB.
pub struct Paging32 {
    image: Image,
    entry: u64,
    load: u64,
}

impl Paging32 {
    /// The one guest of `opened`, at `--entry` (default 0x80001000), loaded at `--load` (0x1000).
    pub fn choose(
        config: &Config,
        opened: Vec<Opened>,
        stops: &Stops,
    ) -> Result<Box<dyn Boot>, Ending> {
        let number = |name, default| match config.value(name) {
            None => Ok(default),
            Some(text) => super::parse_number(text)
                .ok_or_else(|| Ending::Usage(format!("{name} needs a number, not '{text}'"))),
        };
        let (entry, load) = (number("--entry", 0x8000_1000)?, number("--load", 0x1000)?);
        let what = format!("the {MEMORY_SIZE} bytes of memory a --paging guest gets");
        opened.iter().try_for_each(|o| o.fits(MEMORY_SIZE, &what))?;
        let image = super::read_all(opened, stops)?.remove(0);
        check_image(load, image.bytes.len() as u64).map_err(|why| image.error(why))?;
        Ok(Box::new(Paging32 { image, entry, load }))
    }
}

impl Layer for Paging32 {
    /// A KVM that cannot run 32-bit paged guests drops CR0.PG without an error: read it back.
    fn after_vcpus(&mut self, _m: &mut Setup, vcpus: &mut [Vcpu]) -> Result<(), Ending> {
        let cr0 = vcpus[0].get_sregs()?.cr0;
        match cr0 & CR0_PG {
            0 => Err(Ending::NoKvm(unsupported_here(cr0))),
            _ => Ok(()),
        }
    }
}

impl Boot for Paging32 {
    fn layout(&self) -> Layout {
        Layout { ram: MEMORY_SIZE, slots: vec![(0, MEMORY_SIZE)] }
    }

    fn names(&self) -> Vec<String> {
        vec![self.image.name.clone()]
    }

    fn load(&mut self, memory: &GuestMemory) -> Result<(), Ending> {
        let mut tables = [0u8; TABLES_SIZE];
        build_tables(&mut tables);
        let image = &self.image;
        memory.write(self.load, &image.bytes).map_err(|e| image.error(e))?;
        memory.write(GDT_ADDR, &gdt_bytes()).map_err(|e| image.error(e))?;
        memory.write(PAGE_DIRECTORY, &tables).map_err(|e| image.error(e))
    }

    fn start(&self, _index: usize, vcpu: &Vcpu) -> Result<(), Ending> {
        let mut sregs = vcpu.get_sregs()?;
        set_sregs(&mut sregs);
        vcpu.set_sregs(&sregs)?;
        vcpu.set_regs(&initial_regs(self.entry)).map_err(Ending::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pages: &[u8; TABLES_SIZE], page: usize, index: usize) -> u32 {
        let at = page * 0x1000 + index * 4;
        u32::from_le_bytes(pages[at..at + 4].try_into().unwrap())
    }

    #[test]
    fn tables_map_low_memory_twice() {
        let mut pages = [0u8; TABLES_SIZE];
        build_tables(&mut pages);
        assert_eq!(entry(&pages, 0, 0), 0x10_1003);
        assert_eq!(entry(&pages, 0, 512), 0x10_2003, "0x80000000 >> 22 = 512");
        assert_eq!(entry(&pages, 0, 1), 0);
        assert_eq!(entry(&pages, 0, 1023), 0);
        for pt in [1, 2] {
            assert_eq!(entry(&pages, pt, 0), 0x003);
            assert_eq!(entry(&pages, pt, 1), 0x1003);
            assert_eq!(entry(&pages, pt, 1023), 0x3F_F003);
        }
    }

    #[test]
    fn gdt_and_image_checks() {
        let gdt = gdt_bytes();
        assert_eq!(gdt.len(), 40);
        assert_eq!(&gdt[8..16], &0x00CF_9A00_0000_FFFFu64.to_le_bytes());
        assert!(GDT_ADDR + gdt.len() as u64 <= IDT_ADDR, "GDT ends where the IDT starts");
        assert!(check_image(0x1000, 11_784).is_ok());
        assert!(check_image(0x400, 0x200).unwrap_err().to_string().contains("GDT"));
        assert!(check_image(0xFF000, 0x2000).unwrap_err().to_string().contains("page tables"));
        assert!(check_image(0x3F_F000, 0x2000).unwrap_err().to_string().contains("4 MiB"));
        let mut sregs = kvm_sregs::default();
        set_sregs(&mut sregs);
        assert_eq!((sregs.cr0, sregs.cr3, sregs.cr4), (0x8000_0011, 0x10_0000, 0));
        assert!(unsupported_here(0x11).contains("os-1k"));
    }
}
