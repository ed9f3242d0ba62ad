//! 64-bit long mode entered directly by the VMM (the C VMM's `--long-mode`).
//!
//! A real CPU reaches long mode in steps (Intel SDM Vol. 3A, 10.8.5 "Initializing IA-32e
//! Mode"): protected mode, CR4.PAE, CR3 -> 4-level page tables, EFER.LME, then CR0.PG. A VMM
//! can skip the steps: it writes the page tables and a GDT into guest memory, then sets CR0,
//! CR3, CR4, EFER and a 64-bit CS (L = 1) in one KVM_SET_SREGS (api.rst 4.14).
//!
//! Layout of guest `i`'s 4 MiB slot at physical `B = i × 4 MiB`, as the guest sees it:
//!
//! ```text
//! virtual 0x0000_1000            the image (flat binary, `org 0x1000`), RIP starts here
//! ...                            free, then the stack growing down from 0x3F_C000
//! virtual 0x3F_C000 (B+0x3F_C000) PML4 | PDPT | PD | GDT, one 4 KiB page each
//! ```
//!
//! The page tables map virtual 0..4 MiB to physical B..B+4 MiB with two 2 MiB pages (SDM
//! Vol. 3A 4.5, Table 4-17 "PDE that maps a 2-MByte page"), so every guest sees itself at 0x1000
//! whatever its vCPU, as real-mode guests see themselves at IP 0. The tables sit at the top of
//! the slot, never under the image: the C VMM put them at 0x2000-0x5FFF and an image over 4 KiB
//! overwrote them.

use super::{flat_segment, set_data_segments};
use crate::error::Ending;
use crate::guests::Image;
use crate::kvm::bindings::{kvm_regs, kvm_sregs};
use crate::kvm::Vcpu;
use crate::machine::{Boot, Layer, Layout, Setup};
use crate::memory::GuestMemory;
use crate::x86::*;

pub const SLOT_SIZE: u64 = 4 << 20;
/// Where the image is loaded and starts (guest-virtual; physical = slot base + this).
pub const LOAD_ADDRESS: u64 = 0x1000;
/// The four pages of tables and GDT at the top of the slot.
pub const TABLES_OFFSET: u64 = SLOT_SIZE - 0x4000;
/// The stack's reserved room, just below the tables.
const STACK_SIZE: u64 = 0x1_0000;
/// The largest image that fits between LOAD_ADDRESS and the stack.
pub const MAX_IMAGE: u64 = TABLES_OFFSET - STACK_SIZE - LOAD_ADDRESS;

// Paging-structure entry bits (SDM Vol. 3A, 4.5, Tables 4-15 to 4-18).
pub const PTE_PRESENT: u64 = 1 << 0;
pub const PTE_WRITABLE: u64 = 1 << 1;
/// In a PDE: this entry maps a 2 MiB page instead of pointing to a page table.
pub const PTE_PAGE_SIZE: u64 = 1 << 7;

/// 64-bit code (L = 1, D = 0) and flat data descriptors, selectors 0x08 and 0x10.
const GDT: [u64; 3] = [0, 0x00AF_9A00_0000_FFFF, 0x00CF_9200_0000_FFFF];
const CODE_SELECTOR: u16 = 0x08;
const DATA_SELECTOR: u16 = 0x10;

/// Builds PML4, PDPT, PD and the GDT for a slot at physical `slot_base` into `pages` (the four
/// pages at TABLES_OFFSET). Pure: tested on a buffer.
// [tour:long-mode-tables]
pub fn build_tables(pages: &mut [u8; 0x4000], slot_base: u64) {
    let tables = slot_base + TABLES_OFFSET;
    let mut put = |page: usize, index: usize, value: u64| {
        let at = page * 0x1000 + index * 8;
        pages[at..at + 8].copy_from_slice(&value.to_le_bytes());
    };
    put(0, 0, (tables + 0x1000) | PTE_PRESENT | PTE_WRITABLE); // PML4[0] -> PDPT
    put(1, 0, (tables + 0x2000) | PTE_PRESENT | PTE_WRITABLE); // PDPT[0] -> PD
    for i in 0..(SLOT_SIZE >> 21) as usize {
        let frame = slot_base + ((i as u64) << 21);
        put(2, i, frame | PTE_PRESENT | PTE_WRITABLE | PTE_PAGE_SIZE); // PD[i] -> 2 MiB page
    }
    for (i, descriptor) in GDT.iter().enumerate() {
        put(3, i, *descriptor);
    }
}
// [/tour:long-mode-tables]

/// Long mode with paging on, for the slot at physical `slot_base`.
// [tour:long-mode-sregs]
pub fn set_sregs(sregs: &mut kvm_sregs, slot_base: u64) {
    sregs.cs = flat_segment(CODE_SELECTOR, true, true);
    set_data_segments(sregs, flat_segment(DATA_SELECTOR, false, true));
    // GDTR holds a linear (virtual) address; CR3 a physical one.
    sregs.gdt.base = TABLES_OFFSET + 0x3000;
    sregs.gdt.limit = (GDT.len() * 8 - 1) as u16;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cr3 = slot_base + TABLES_OFFSET;
    sregs.cr4 = CR4_PAE | CR4_OSFXSR;
    sregs.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
    sregs.efer = EFER_LME | EFER_LMA;
}
// [/tour:long-mode-sregs]

pub fn initial_regs() -> kvm_regs {
    kvm_regs {
        rip: LOAD_ADDRESS,
        rsp: TABLES_OFFSET,
        rflags: RFLAGS_RESERVED1,
        ..Default::default()
    }
}

/// Flat 64-bit guests, one vCPU and one 4 MiB slot each, as a [`Boot`].
pub struct LongMode {
    pub images: Vec<Image>,
}

impl Layer for LongMode {
    fn after_vcpus(&mut self, m: &mut Setup, vcpus: &mut [Vcpu]) -> Result<(), Ending> {
        super::kernel::cpuid(m, vcpus, |_| {}) // a 64-bit CPU must say it has long mode
    }
}

impl Boot for LongMode {
    fn layout(&self) -> Layout {
        let n = self.images.len() as u64;
        Layout { ram: n * SLOT_SIZE, slots: (0..n).map(|i| (i * SLOT_SIZE, SLOT_SIZE)).collect() }
    }

    fn names(&self) -> Vec<String> {
        self.images.iter().map(|i| i.name.clone()).collect()
    }

    fn load(&mut self, memory: &GuestMemory) -> Result<(), Ending> {
        for (i, image) in self.images.iter().enumerate() {
            let base = i as u64 * SLOT_SIZE;
            let mut tables = [0u8; 0x4000];
            build_tables(&mut tables, base);
            memory.write(base + LOAD_ADDRESS, &image.bytes).map_err(|e| image.error(e))?;
            memory.write(base + TABLES_OFFSET, &tables).map_err(|e| image.error(e))?;
            crate::console::note(|| {
                let (len, from) = (image.bytes.len(), image.path.as_deref().unwrap_or("embedded"));
                format!("vCPU {i} ({}): {len} bytes from {from}; long mode, RIP {LOAD_ADDRESS:#x} -> physical {:#x}, page tables at {:#x}", image.name, base + LOAD_ADDRESS, base + TABLES_OFFSET)
            });
        }
        Ok(())
    }

    fn start(&self, index: usize, vcpu: &Vcpu) -> Result<(), Ending> {
        let mut sregs = vcpu.get_sregs()?;
        set_sregs(&mut sregs, index as u64 * SLOT_SIZE);
        vcpu.set_sregs(&sregs)?;
        vcpu.set_regs(&initial_regs()).map_err(Ending::from)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(pages: &[u8; 0x4000], page: usize, index: usize) -> u64 {
        let at = page * 0x1000 + index * 8;
        u64::from_le_bytes(pages[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn tables_map_the_slot_at_virtual_zero() {
        let mut pages = [0u8; 0x4000];
        build_tables(&mut pages, 0x80_0000); // vCPU 2's slot
        let tables = 0x80_0000 + TABLES_OFFSET;
        assert_eq!(entry(&pages, 0, 0), (tables + 0x1000) | 3);
        assert_eq!(entry(&pages, 0, 1), 0, "only the first 512 GiB entry");
        assert_eq!(entry(&pages, 1, 0), (tables + 0x2000) | 3);
        assert_eq!(entry(&pages, 2, 0), 0x80_0000 | 0x83);
        assert_eq!(entry(&pages, 2, 1), 0xA0_0000 | 0x83);
        assert_eq!(entry(&pages, 2, 2), 0, "nothing beyond 4 MiB");
        assert_eq!(entry(&pages, 3, 1) >> 53 & 1, 1, "GDT code segment has L = 1");
    }

    #[test]
    fn the_image_never_reaches_the_tables() {
        const { assert!(LOAD_ADDRESS + MAX_IMAGE + STACK_SIZE <= TABLES_OFFSET) };
        const { assert!(MAX_IMAGE >= 3 << 20, "room for big images") };
        let mut sregs = kvm_sregs::default();
        set_sregs(&mut sregs, 0x40_0000);
        assert_eq!(sregs.cr3, 0x40_0000 + TABLES_OFFSET);
        assert_eq!(sregs.efer, EFER_LME | EFER_LMA);
        assert_eq!((sregs.cs.l, sregs.cs.db), (1, 0));
        assert_eq!(sregs.cr0 & (CR0_PE | CR0_PG), CR0_PE | CR0_PG);
        assert_eq!(initial_regs().rip, 0x1000);
    }
}
