//! Walking the guest's page tables by hand, to tell whether a linear address is on a user page.
//!
//! KVM_TRANSLATE (api.rst 4.15) gives the physical address but its `usermode` field is always
//! 0 on x86, so it cannot say whether ring 3 may run an address. A page is a user page when the
//! U/S bit (bit 2) is set in the entry at *every* level of the walk (Intel SDM Vol. 3A 4.6.1,
//! "Determination of Access Rights"; 4.3 for 32-bit paging, 4.4 for PAE, 4.5 for 4- and 5-level
//! paging; PAE's PDPTEs have no U/S bit and do not restrict). The walk itself is pure: it reads
//! entries through [`PhysRead`], so it is tested on a fake memory.

use crate::kvm::bindings::kvm_sregs;
use crate::memory::GuestMemory;
use crate::x86::{CR0_PG, CR4_PAE, EFER_LMA};

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
    Off,
    /// 32-bit paging; `pse`: CR4.PSE allows 4 MiB pages.
    Bits32 {
        pse: bool,
    },
    Pae,
    /// 4-level (or, with CR4.LA57, 5-level) paging in long mode.
    Long {
        levels: u32,
    },
}

const CR4_PSE: u64 = 1 << 4;
const CR4_LA57: u64 = 1 << 12;
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
            Paging::Bits32 {
                pse: sregs.cr4 & CR4_PSE != 0,
            }
        }
    }
}

/// Where a linear address leads, and whether ring 3 may reach it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walk {
    pub physical: u64,
    pub user: bool,
}

/// Walks the tables at `cr3` for `linear`; an error names the level that is not present.
pub fn walk(mem: &dyn PhysRead, paging: Paging, cr3: u64, linear: u64) -> Result<Walk, String> {
    let walked = match paging {
        Paging::Off => Ok(Walk {
            physical: linear,
            user: false,
        }),
        Paging::Bits32 { pse } => walk_32(mem, pse, cr3, linear & 0xFFFF_FFFF),
        Paging::Pae => walk_pae(mem, cr3, linear & 0xFFFF_FFFF),
        Paging::Long { levels } => {
            let order: &[u32] = if levels == 5 {
                &[5, 4, 3, 2, 1]
            } else {
                &[4, 3, 2, 1]
            };
            walk_levels(mem, cr3 & ADDRESS, linear, order, USER)
        }
    };
    walked.map_err(|fault| match fault {
        Fault::NotPresent(level) => {
            format!("{linear:#x} is not mapped ({level} entry not present)")
        }
        Fault::Unreadable(gpa) => format!("page table at {gpa:#x} is outside guest RAM"),
    })
}

/// Why a walk stopped, put in words by [`walk`] with the address gdb asked for.
enum Fault {
    /// The entry at this level has P = 0.
    NotPresent(&'static str),
    /// A table lies at this guest-physical address, outside guest RAM.
    Unreadable(u64),
}

/// 32-bit paging (SDM 4.3): a page directory and a page table of 4-byte entries, or with
/// CR4.PSE a 4 MiB page straight from the directory.
fn walk_32(mem: &dyn PhysRead, pse: bool, cr3: u64, linear: u64) -> Result<Walk, Fault> {
    let pde_at = (cr3 & 0xFFFF_F000) + ((linear >> 22) << 2);
    let pde = u64::from(mem.read_u32(pde_at).ok_or(Fault::Unreadable(pde_at))?);
    if pde & PRESENT == 0 {
        return Err(Fault::NotPresent("page-directory"));
    }
    if pse && pde & LARGE != 0 {
        return Ok(Walk {
            physical: (pde & 0xFFC0_0000) | (linear & 0x3F_FFFF),
            user: pde & USER != 0,
        });
    }
    let pte_at = (pde & 0xFFFF_F000) + (((linear >> 12) & 0x3FF) << 2);
    let pte = u64::from(mem.read_u32(pte_at).ok_or(Fault::Unreadable(pte_at))?);
    if pte & PRESENT == 0 {
        return Err(Fault::NotPresent("page-table"));
    }
    Ok(Walk {
        physical: (pte & 0xFFFF_F000) | (linear & 0xFFF),
        user: pde & pte & USER != 0,
    })
}

/// PAE paging (SDM 4.4): one of four PDPTEs picked by bits 31:30, then two levels of 8-byte
/// entries like long mode's.
fn walk_pae(mem: &dyn PhysRead, cr3: u64, linear: u64) -> Result<Walk, Fault> {
    let pdpte_at = (cr3 & 0xFFFF_FFE0) + ((linear >> 30) << 3);
    let pdpte = mem.read_u64(pdpte_at).ok_or(Fault::Unreadable(pdpte_at))?;
    if pdpte & PRESENT == 0 {
        return Err(Fault::NotPresent("page-directory-pointer"));
    }
    // PAE PDPTEs have no U/S bit: the walk below decides.
    walk_levels(mem, pdpte & ADDRESS, linear, &[2, 1], USER)
}

/// The 64-bit-entry levels: level L indexes bits 12+9(L-1).. of the address; levels 2 and 3
/// may map a large page (2 MiB, 1 GiB). `user` carries the U/S bits seen so far.
fn walk_levels(
    mem: &dyn PhysRead,
    mut table: u64,
    linear: u64,
    levels: &[u32],
    mut user: u64,
) -> Result<Walk, Fault> {
    const NAMES: [&str; 6] = ["", "page-table", "page-directory", "PDPT", "PML4", "PML5"];
    for &level in levels {
        let shift = 12 + 9 * (level - 1);
        let at = table + (((linear >> shift) & 0x1FF) << 3);
        let entry = mem.read_u64(at).ok_or(Fault::Unreadable(at))?;
        if entry & PRESENT == 0 {
            return Err(Fault::NotPresent(NAMES[level as usize]));
        }
        user &= entry;
        if level == 1 || (level <= 3 && entry & LARGE != 0) {
            let offset = (1u64 << shift) - 1;
            return Ok(Walk {
                physical: (entry & ADDRESS & !offset) | (linear & offset),
                user: user & USER != 0,
            });
        }
        table = entry & ADDRESS;
    }
    Err(Fault::NotPresent("last"))
}

#[cfg(test)]
mod tests;
