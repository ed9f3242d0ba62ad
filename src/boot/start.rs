//! The register state a guest's vCPU starts in, once its protocol has loaded it: each
//! protocol file says its own, and [`Start`] picks the one for the run.

use super::multiboot::{self, Loaded};
use super::{linux, longmode, paging32, realmode, zeropage};
use crate::kvm::bindings::{kvm_regs, kvm_sregs};

/// The register state a vCPU starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Real {
        index: usize,
    },
    Long {
        slot_base: u64,
    },
    Paging32 {
        entry: u64,
    },
    Multiboot(Loaded),
    Linux {
        initrd: Option<(u64, u64)>,
        entry32: bool,
    },
}

impl Start {
    /// Edits the special registers KVM reported into this start state.
    pub fn set_sregs(&self, sregs: &mut kvm_sregs) {
        match self {
            Start::Real { index } => realmode::set_sregs(sregs, *index),
            Start::Long { slot_base } => longmode::set_sregs(sregs, *slot_base),
            Start::Paging32 { .. } => paging32::set_sregs(sregs),
            Start::Multiboot(_) => multiboot::set_sregs(sregs),
            Start::Linux { entry32: true, .. } => linux::set_sregs_32(sregs),
            Start::Linux { .. } => linux::set_sregs(sregs),
        }
    }

    pub fn regs(&self) -> kvm_regs {
        match self {
            Start::Real { .. } => realmode::initial_regs(),
            Start::Long { .. } => longmode::initial_regs(),
            Start::Paging32 { entry } => paging32::initial_regs(*entry),
            Start::Multiboot(loaded) => multiboot::initial_regs(loaded),
            Start::Linux { entry32: true, .. } => linux::initial_regs_32(),
            Start::Linux { .. } => linux::initial_regs(),
        }
    }

    /// One line for `-v`.
    pub fn describe(&self) -> String {
        match self {
            Start::Real { index } => {
                let base = realmode::slot_base(*index);
                format!(
                    "real mode, CS:IP {:04x}:0000 (physical {base:#x})",
                    base >> 4
                )
            }
            Start::Long { slot_base } => format!(
                "long mode, RIP {:#x} -> physical {:#x}, page tables at {:#x}",
                longmode::LOAD_ADDRESS,
                slot_base + longmode::LOAD_ADDRESS,
                slot_base + longmode::TABLES_OFFSET
            ),
            Start::Paging32 { entry } => format!(
                "32-bit paging, EIP {entry:#x}, CR3 {:#x}",
                paging32::PAGE_DIRECTORY
            ),
            Start::Multiboot(l) => format!(
                "Multiboot: 32-bit protected mode, paging off, EIP {:#x}, EAX {:#x}, EBX {:#x} \
                 (boot information), kernel and modules end at {:#x}",
                l.entry,
                multiboot::BOOTLOADER_MAGIC,
                l.info_addr,
                l.end
            ),
            Start::Linux {
                initrd,
                entry32: true,
            } => format!(
                "Linux: 32-bit entry startup_32 at {:#x}, paging off, ESI {:#x} (boot_params), \
                 command line at {:#x}{}",
                linux::KERNEL_LOAD,
                zeropage::ZERO_PAGE,
                zeropage::CMDLINE_ADDR,
                initrd_text(*initrd)
            ),
            Start::Linux { initrd, .. } => format!(
                "Linux: 64-bit entry startup_64 at {:#x}, RSI {:#x} (boot_params), page tables \
                 at {:#x} (0..4 GiB identity-mapped), command line at {:#x}{}",
                linux::KERNEL_LOAD + linux::STARTUP_64_OFFSET,
                zeropage::ZERO_PAGE,
                zeropage::PAGE_TABLES,
                zeropage::CMDLINE_ADDR,
                initrd_text(*initrd)
            ),
        }
    }
}

/// The initrd part of a Linux start's `-v` line.
fn initrd_text(initrd: Option<(u64, u64)>) -> String {
    match initrd {
        Some((addr, size)) => format!(", initrd {size} bytes at {addr:#x}"),
        None => ", no initrd".into(),
    }
}
