//! Walking the guest's page tables by hand: whether a linear address is on a user page, and
//! every entry on the way for `monitor pagewalk` (monitor.rs).
//!
//! KVM_TRANSLATE (api.rst 4.15) gives the physical address but its `usermode` field is always
//! 0 on x86, so it cannot say whether ring 3 may run an address. A page is a user page when the
//! U/S bit (bit 2) is set in the entry at *every* level of the walk (Intel SDM Vol. 3A 4.6.1,
//! "Determination of Access Rights"; 4.3 for 32-bit paging, 4.4 for PAE, 4.5 for 4- and 5-level
//! paging; PAE's PDPTEs have no U/S bit and do not restrict). The walk itself is pure: it reads
//! entries through [`PhysRead`], so it is tested on a fake memory.

use crate::kvm::bindings::kvm_sregs;
use crate::memory::GuestMemory;
use crate::x86::{CR0_PG, CR4_LA57, CR4_PAE, CR4_PSE, EFER_LMA};

/// Reads page-table entries from guest-physical memory (little-endian).
pub trait PhysRead {
    fn read_u64(&self, gpa: u64) -> Option<u64>;
    fn read_u32(&self, gpa: u64) -> Option<u32> {
        self.read_u64(gpa).map(|v| v as u32)
    }
}

impl PhysRead for GuestMemory {
    fn read_u64(&self, gpa: u64) -> Option<u64> {
        let mut b = [0u8; 8];
        self.read(gpa, &mut b).ok().map(|_| u64::from_le_bytes(b))
    }
    fn read_u32(&self, gpa: u64) -> Option<u32> {
        let mut b = [0u8; 4];
        self.read(gpa, &mut b).ok().map(|_| u32::from_le_bytes(b))
    }
}

/// Which paging structure CR0, CR4 and EFER select.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Paging {
    /// CR0.PG clear: linear addresses are physical.
    Off,
    /// 32-bit paging; `pse`: CR4.PSE allows 4 MiB pages.
    Bits32 { pse: bool },
    /// PAE paging (CR4.PAE, outside long mode): 3 levels.
    Pae,
    /// 4-level (or, with CR4.LA57, 5-level) paging in long mode.
    Long { levels: u32 },
}

const PRESENT: u64 = 1;
const USER: u64 = 1 << 2;
const LARGE: u64 = 1 << 7;
const ADDRESS: u64 = 0x000F_FFFF_FFFF_F000;

impl Paging {
    pub fn of(sregs: &kvm_sregs) -> Paging {
        if sregs.cr0 & CR0_PG == 0 {
            Paging::Off
        } else if sregs.efer & EFER_LMA != 0 {
            let levels = if sregs.cr4 & CR4_LA57 != 0 { 5 } else { 4 };
            Paging::Long { levels }
        } else if sregs.cr4 & CR4_PAE != 0 {
            Paging::Pae
        } else {
            Paging::Bits32 { pse: sregs.cr4 & CR4_PSE != 0 }
        }
    }
}

/// Where a linear address leads, and whether ring 3 may reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walk {
    pub physical: u64,
    pub user: bool,
}

/// One entry the walk read: which level, its index in its table, where it lies, its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The SDM's name for the entry: PML5E, PML4E, PDPTE, PDE or PTE.
    pub name: &'static str,
    pub index: u64,
    /// The entry's guest-physical address.
    pub at: u64,
    pub entry: u64,
    /// 4 for the 32-bit levels' entries, 8 for the others.
    pub width: u8,
    /// Whether the entry's U/S bit counts (PAE's PDPTEs have none).
    pub has_user_bit: bool,
    /// The size of the page this entry maps, when it maps one (the last level, or a large page).
    pub page_size: Option<u64>,
}

/// Every entry a walk read, and how it ended: the physical address, or why it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trace {
    pub steps: Vec<Step>,
    pub end: Result<u64, Fault>,
}

impl Trace {
    /// A page is a user page when U/S is set at every level that has the bit (SDM 4.6.1).
    fn user(&self) -> bool {
        self.steps.iter().filter(|s| s.has_user_bit).all(|s| s.entry & USER != 0)
    }
}

/// Walks the tables at `cr3` for `linear`; an error names the level that is not present.
pub fn walk(mem: &dyn PhysRead, paging: Paging, cr3: u64, linear: u64) -> Result<Walk, String> {
    let trace = trace(mem, paging, cr3, linear);
    match trace.end {
        Ok(physical) => Ok(Walk { physical, user: paging != Paging::Off && trace.user() }),
        Err(fault) => Err(fault.describe(linear)),
    }
}

/// The walk with every entry it read, for `monitor pagewalk` (gdb/monitor.rs).
pub fn trace(mem: &dyn PhysRead, paging: Paging, cr3: u64, linear: u64) -> Trace {
    let mut w = Walker { mem, steps: Vec::new() };
    let end = match paging {
        Paging::Off => Ok(linear),
        Paging::Bits32 { pse } => w.walk_32(pse, cr3, linear & 0xFFFF_FFFF),
        Paging::Pae => w.walk_pae(cr3, linear & 0xFFFF_FFFF),
        Paging::Long { levels } => {
            let order: &[u32] = if levels == 5 { &[5, 4, 3, 2, 1] } else { &[4, 3, 2, 1] };
            w.walk_levels(cr3 & ADDRESS, linear, order)
        }
    };
    Trace { steps: w.steps, end }
}

/// Why a walk stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The entry at this level (the SDM's table name) has P = 0.
    NotPresent(&'static str),
    /// A table lies at this guest-physical address, outside guest RAM.
    Unreadable(u64),
}

impl Fault {
    /// In words, with the address that was walked.
    pub fn describe(self, linear: u64) -> String {
        match self {
            Fault::NotPresent(level) => {
                format!("{linear:#x} is not mapped ({level} entry not present)")
            }
            Fault::Unreadable(gpa) => format!("page table at {gpa:#x} is outside guest RAM"),
        }
    }
}

/// A step not read yet: `entry` and `page_size` are filled in by the walk.
fn step(name: &'static str, table: u64, index: u64, width: u8) -> Step {
    Step {
        name,
        index,
        at: table + index * u64::from(width),
        entry: 0,
        width,
        has_user_bit: true,
        page_size: None,
    }
}

/// A walk under way: the memory its tables are read from, and the steps read so far.
struct Walker<'a> {
    mem: &'a dyn PhysRead,
    steps: Vec<Step>,
}

impl Walker<'_> {
    /// Reads one entry, records it, and stops the walk at P = 0 (`table` names the level then).
    fn read_entry(&mut self, mut step: Step, table: &'static str) -> Result<u64, Fault> {
        let entry = match step.width {
            4 => self.mem.read_u32(step.at).map(u64::from),
            _ => self.mem.read_u64(step.at),
        };
        step.entry = entry.ok_or(Fault::Unreadable(step.at))?;
        self.steps.push(step);
        if step.entry & PRESENT == 0 {
            return Err(Fault::NotPresent(table));
        }
        Ok(step.entry)
    }

    /// The last step read maps a page of `size` bytes.
    fn mark_page(&mut self, size: u64) {
        if let Some(last) = self.steps.last_mut() {
            last.page_size = Some(size);
        }
    }

    /// 32-bit paging (SDM 4.3): a page directory and a page table of 4-byte entries, or with
    /// CR4.PSE a 4 MiB page straight from the directory.
    fn walk_32(&mut self, pse: bool, cr3: u64, linear: u64) -> Result<u64, Fault> {
        let pde = step("PDE", cr3 & 0xFFFF_F000, linear >> 22, 4);
        let pde = self.read_entry(pde, "page-directory")?;
        if pse && pde & LARGE != 0 {
            self.mark_page(1 << 22);
            return Ok((pde & 0xFFC0_0000) | (linear & 0x3F_FFFF));
        }
        let pte = step("PTE", pde & 0xFFFF_F000, (linear >> 12) & 0x3FF, 4);
        let pte = self.read_entry(pte, "page-table")?;
        self.mark_page(1 << 12);
        Ok((pte & 0xFFFF_F000) | (linear & 0xFFF))
    }

    /// PAE paging (SDM 4.4): one of four PDPTEs picked by bits 31:30, then two levels of 8-byte
    /// entries like long mode's.
    fn walk_pae(&mut self, cr3: u64, linear: u64) -> Result<u64, Fault> {
        let mut pdpte = step("PDPTE", cr3 & 0xFFFF_FFE0, linear >> 30, 8);
        // PAE PDPTEs have no U/S bit: the walk below decides.
        pdpte.has_user_bit = false;
        let pdpte = self.read_entry(pdpte, "page-directory-pointer")?;
        self.walk_levels(pdpte & ADDRESS, linear, &[2, 1])
    }

    /// The 64-bit-entry levels: level L indexes bits 12+9(L-1).. of the address; levels 2 and 3
    /// may map a large page (2 MiB, 1 GiB).
    fn walk_levels(&mut self, mut table: u64, linear: u64, levels: &[u32]) -> Result<u64, Fault> {
        const NAMES: [(&str, &str); 6] = [
            ("", ""),
            ("PTE", "page-table"),
            ("PDE", "page-directory"),
            ("PDPTE", "PDPT"),
            ("PML4E", "PML4"),
            ("PML5E", "PML5"),
        ];
        for &level in levels {
            let shift = 12 + 9 * (level - 1);
            let (name, table_name) = NAMES[level as usize];
            let at = step(name, table, (linear >> shift) & 0x1FF, 8);
            let entry = self.read_entry(at, table_name)?;
            if level == 1 || (level <= 3 && entry & LARGE != 0) {
                let offset = (1u64 << shift) - 1;
                self.mark_page(offset + 1);
                return Ok((entry & ADDRESS & !offset) | (linear & offset));
            }
            table = entry & ADDRESS;
        }
        Err(Fault::NotPresent("last"))
    }
}

#[cfg(test)]
mod tests;
