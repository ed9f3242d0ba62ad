//! Boot protocols: how a guest image gets into memory and what state its vCPU starts in.
//!
//! A real PC starts in real mode at 0xFFFF0 and leaves the rest to firmware. A VMM can skip the
//! firmware: it writes the image into guest RAM itself and sets the registers with
//! KVM_SET_REGS/KVM_SET_SREGS to the state the image expects to start in.
//!
//! | protocol      | chosen when                            | file          |
//! |---------------|----------------------------------------|---------------|
//! | real mode     | a flat binary (the default)            | [`realmode`]  |
//! | long mode     | `--long-mode`, or a 64-bit built-in    | [`longmode`]  |
//! | 32-bit paging | `--paging` (the seed's flat kernels)   | [`paging32`]  |
//! | Multiboot v1  | the file is a Multiboot kernel          | [`multiboot`] |
//! | Linux x86     | `--linux BZIMAGE`                       | [`linux`], [`zeropage`] |
//!
//! The kind of a file is recognised from its contents: an ELF file or a file with a Multiboot
//! header is a kernel; anything else is a flat binary.

pub mod elf;
pub mod error;
pub mod linux;
pub mod longmode;
pub mod multiboot;
pub mod paging32;
pub mod realmode;
pub mod zeropage;

use crate::guests::{GuestMode, Image, ImageError, Origin};
use crate::kvm::bindings::{kvm_regs, kvm_segment, kvm_sregs};
use crate::memory::GuestMemory;
use error::LoadError;
use multiboot::{Header, Loaded, Module};

/// A flat segment: base 0, 4 GiB limit, ring 0, as every protected- and long-mode setup here
/// uses (Intel SDM Vol. 3A, 3.4.5). `type_` 0xB is execute/read code, 0x3 read/write data;
/// a 64-bit code segment has L = 1 and must have D = 0.
pub fn flat_segment(selector: u16, code: bool, long_mode: bool) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xFFFF_FFFF,
        selector,
        type_: if code { 0xB } else { 0x3 },
        present: 1,
        dpl: 0,
        db: u8::from(!(code && long_mode)),
        s: 1,
        l: u8::from(code && long_mode),
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// Loads the same segment into DS, ES, FS, GS and SS.
pub fn set_data_segments(sregs: &mut kvm_sregs, segment: kvm_segment) {
    for seg in [
        &mut sregs.ds,
        &mut sregs.es,
        &mut sregs.fs,
        &mut sregs.gs,
        &mut sregs.ss,
    ] {
        *seg = segment;
    }
}

/// Guest RAM for a Multiboot kernel unless `--mem` says otherwise.
pub const DEFAULT_KERNEL_RAM: u64 = 32 << 20;

/// RAM below 4 GiB ends here, as on a PC: 3 GiB to 4 GiB is the hole where the LAPIC, the
/// IOAPIC and KVM's TSS pages live.
pub const LOW_RAM_END: u64 = 3 << 30;
/// RAM beyond the first 3 GiB continues here, above the hole.
pub const HIGH_RAM_START: u64 = 4 << 30;

/// RAM below the hole, where a Multiboot kernel and its modules are loaded, for `ram` bytes.
pub fn low_ram(ram: u64) -> u64 {
    ram.min(LOW_RAM_END)
}

/// Guest RAM is one mapping with guest-physical address == offset; above 3 GiB it includes the
/// hole, which no memory slot covers (and which, never touched, costs nothing).
pub fn mapping_size(ram: u64) -> u64 {
    if ram > LOW_RAM_END {
        HIGH_RAM_START + (ram - LOW_RAM_END)
    } else {
        ram
    }
}

/// The CPU mode asked for on the command line (`--long-mode`, `--paging`): the seed's options,
/// for flat binaries only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Decided by each guest (real mode, unless an embedded guest says otherwise).
    Auto,
    /// `--long-mode`: a flat 64-bit guest.
    Long,
    /// `--paging`: a flat 32-bit kernel with paging on, entered at `entry`, loaded at `load`.
    Paging { entry: u64, load: u64 },
}

/// How the guests of one run boot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Real,
    Long,
    Paging {
        entry: u64,
        load: u64,
    },
    Multiboot {
        header: Header,
        ram: u64,
    },
    /// `--linux`: a bzImage through the x86 boot protocol's 64-bit entry.
    Linux(linux::LinuxBoot),
}

/// The VM a plan needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// Bytes of the guest RAM mapping (guest-physical 0..ram, the hole included, see
    /// [`mapping_size`]).
    pub ram: u64,
    /// One memory slot per guest, this big, at index × slot_size.
    pub slot_size: u64,
    /// RAM above the 4 GiB hole, one more memory slot at [`HIGH_RAM_START`] (0: none).
    pub high: u64,
    /// In-kernel PIC + PIT: an OS kernel expects interrupt hardware.
    pub irqchip: bool,
}

/// A usage problem or an unusable image, found while choosing the plan.
#[derive(Debug)]
pub enum PlanError {
    Usage(String),
    Image(ImageError),
}

fn image_error(image: &Image, reason: impl std::fmt::Display) -> PlanError {
    PlanError::Image(ImageError {
        path: image.origin_path(),
        reason: reason.to_string(),
    })
}

impl Image {
    /// The path or name to show in messages.
    fn origin_path(&self) -> String {
        match &self.origin {
            Origin::Embedded => self.name.clone(),
            origin => origin.to_string(),
        }
    }
}

/// Chooses the boot protocol from the options and the images' contents.
pub fn choose(mode: Mode, mem: Option<u64>, images: &[Image]) -> Result<Plan, PlanError> {
    let mut kernels = Vec::new();
    for image in images {
        match multiboot::find_header(&image.bytes) {
            Err(why) => return Err(image_error(image, why)),
            Ok(Some(header)) => kernels.push(header),
            Ok(None) if elf::is_elf(&image.bytes) => {
                return Err(image_error(
                    image,
                    "is an ELF file without a Multiboot header in its first 8 KiB: \
                     mini-kvm boots ELF kernels through Multiboot",
                ))
            }
            Ok(None) => {}
        }
    }
    if let Some(&header) = kernels.first() {
        if images.len() > 1 {
            return Err(PlanError::Usage(
                "a Multiboot kernel runs alone: give it as the only guest".into(),
            ));
        }
        if mode != Mode::Auto {
            return Err(PlanError::Usage(
                "--long-mode and --paging are for flat binaries; a Multiboot kernel sets up \
                 its own CPU mode"
                    .into(),
            ));
        }
        let ram = mem.unwrap_or(DEFAULT_KERNEL_RAM);
        return Ok(Plan::Multiboot { header, ram });
    }
    if mem.is_some() {
        return Err(PlanError::Usage(
            "--mem is for Multiboot kernels; flat guests get the seed's fixed slots".into(),
        ));
    }
    let declared_long = images
        .iter()
        .filter(|i| i.mode == Some(GuestMode::Long))
        .count();
    let plan = match mode {
        Mode::Long => Plan::Long,
        Mode::Paging { entry, load } => {
            if images.len() > 1 {
                return Err(PlanError::Usage("--paging runs one guest".into()));
            }
            Plan::Paging { entry, load }
        }
        Mode::Auto if declared_long == images.len() => Plan::Long,
        Mode::Auto if declared_long > 0 => {
            return Err(PlanError::Usage(
                "64-bit and 16-bit guests cannot share a run: give --long-mode guests together"
                    .into(),
            ))
        }
        Mode::Auto => Plan::Real,
    };
    for image in images {
        let len = image.bytes.len() as u64;
        let (limit, mode) = match plan {
            Plan::Real => (realmode::SLOT_SIZE, "a real-mode guest's slot"),
            Plan::Long => (longmode::MAX_IMAGE, "a 64-bit (long-mode) guest can have"),
            _ => (u64::MAX, ""),
        };
        if len > limit {
            return Err(image_error(
                image,
                format!("is {len} bytes, larger than the {limit} bytes of {mode}"),
            ));
        }
        if let Plan::Paging { load, .. } = plan {
            paging32::check_image(load, len).map_err(|why| image_error(image, why))?;
        }
    }
    Ok(plan)
}

impl Plan {
    pub fn layout(&self, guests: usize) -> Layout {
        let n = guests as u64;
        match self {
            Plan::Real => Layout {
                ram: n * realmode::SLOT_SIZE,
                slot_size: realmode::SLOT_SIZE,
                high: 0,
                irqchip: false,
            },
            Plan::Long => Layout {
                ram: n * longmode::SLOT_SIZE,
                slot_size: longmode::SLOT_SIZE,
                high: 0,
                irqchip: false,
            },
            Plan::Paging { .. } => Layout {
                ram: paging32::MEMORY_SIZE,
                slot_size: paging32::MEMORY_SIZE,
                high: 0,
                irqchip: false,
            },
            Plan::Multiboot { ram, .. } | Plan::Linux(linux::LinuxBoot { ram, .. }) => Layout {
                ram: mapping_size(*ram),
                slot_size: low_ram(*ram),
                high: ram.saturating_sub(LOW_RAM_END),
                irqchip: true,
            },
        }
    }

    /// Writes guest `index`'s image (and whatever the protocol adds) into memory; returns the
    /// state its vCPU starts in.
    pub fn load(
        &self,
        memory: &GuestMemory,
        index: usize,
        image: &Image,
        cmdline: &str,
        modules: &[Module],
    ) -> Result<Start, LoadError> {
        let write = |gpa: u64, bytes: &[u8]| memory.write(gpa, bytes);
        match self {
            Plan::Real => {
                write(realmode::slot_base(index), &image.bytes)?;
                Ok(Start::Real { index })
            }
            Plan::Long => {
                let base = index as u64 * longmode::SLOT_SIZE;
                write(base + longmode::LOAD_ADDRESS, &image.bytes)?;
                let mut tables = [0u8; 0x4000];
                longmode::build_tables(&mut tables, base);
                write(base + longmode::TABLES_OFFSET, &tables)?;
                Ok(Start::Long { slot_base: base })
            }
            Plan::Paging { entry, load } => {
                write(*load, &image.bytes)?;
                write(paging32::GDT_ADDR, &paging32::gdt_bytes())?;
                let mut tables = [0u8; paging32::TABLES_SIZE];
                paging32::build_tables(&mut tables);
                write(paging32::PAGE_DIRECTORY, &tables)?;
                Ok(Start::Paging32 { entry: *entry })
            }
            Plan::Multiboot { header, .. } => {
                multiboot::load(memory, &image.bytes, header, cmdline, modules)
                    .map(Start::Multiboot)
                    .map_err(LoadError::Multiboot)
            }
            // The initrd comes as the one "module".
            Plan::Linux(boot) => {
                let initrd = modules.first().map(|m| &m.bytes[..]);
                linux::load(memory, boot, &image.bytes, cmdline, initrd)?;
                Ok(Start::Linux {
                    initrd: boot.initrd,
                    entry32: boot.entry32,
                })
            }
        }
    }
}

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
                match initrd {
                    Some((addr, size)) => format!(", initrd {size} bytes at {addr:#x}"),
                    None => ", no initrd".into(),
                }
            ),
            Start::Linux { initrd, .. } => format!(
                "Linux: 64-bit entry startup_64 at {:#x}, RSI {:#x} (boot_params), page tables \
                 at {:#x} (0..4 GiB identity-mapped), command line at {:#x}{}",
                linux::KERNEL_LOAD + linux::STARTUP_64_OFFSET,
                zeropage::ZERO_PAGE,
                zeropage::PAGE_TABLES,
                zeropage::CMDLINE_ADDR,
                match initrd {
                    Some((addr, size)) => format!(", initrd {size} bytes at {addr:#x}"),
                    None => ", no initrd".into(),
                }
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::borrow::Cow;

    fn image(bytes: Vec<u8>, mode: Option<GuestMode>) -> Image {
        Image {
            name: "t".into(),
            origin: Origin::File("t.bin".into()),
            bytes: Cow::Owned(bytes),
            mode,
        }
    }

    #[test]
    fn the_plan_follows_contents_and_options() {
        let flat = || image(vec![0xF4], None);
        assert_eq!(
            choose(Mode::Auto, None, &[flat(), flat()]).unwrap(),
            Plan::Real
        );
        assert_eq!(choose(Mode::Long, None, &[flat()]).unwrap(), Plan::Long);
        let long = image(vec![0xF4], Some(GuestMode::Long));
        assert_eq!(choose(Mode::Auto, None, &[long]).unwrap(), Plan::Long);
        let mixed = [image(vec![0xF4], Some(GuestMode::Long)), flat()];
        assert!(matches!(
            choose(Mode::Auto, None, &mixed),
            Err(PlanError::Usage(_))
        ));
        assert!(matches!(
            choose(Mode::Auto, Some(64 << 20), &[flat()]),
            Err(PlanError::Usage(_))
        ));
        let paging = Mode::Paging {
            entry: 0x8000_1000,
            load: 0x1000,
        };
        assert!(matches!(
            choose(paging, None, &[flat()]),
            Ok(Plan::Paging { .. })
        ));
        assert!(matches!(
            choose(paging, None, &[flat(), flat()]),
            Err(PlanError::Usage(_))
        ));
    }

    #[test]
    fn kernels_are_recognised_from_their_contents() {
        let mut k = Vec::new();
        for w in [
            multiboot::HEADER_MAGIC,
            0,
            0u32.wrapping_sub(multiboot::HEADER_MAGIC),
        ] {
            k.extend_from_slice(&w.to_le_bytes());
        }
        let kernel = image(k, None);
        match choose(Mode::Auto, None, std::slice::from_ref(&kernel)) {
            Ok(Plan::Multiboot { ram, .. }) => assert_eq!(ram, DEFAULT_KERNEL_RAM),
            other => panic!("{other:?}"),
        }
        let two = [kernel, image(vec![0xF4], None)];
        assert!(matches!(
            choose(Mode::Auto, None, &two),
            Err(PlanError::Usage(_))
        ));
        let elf = image(b"\x7fELF\x02\x01\x01".to_vec(), None);
        assert!(matches!(
            choose(Mode::Auto, None, &[elf]),
            Err(PlanError::Image(_))
        ));
    }

    #[test]
    fn images_too_big_for_their_mode_are_refused() {
        let big = image(vec![0x90; realmode::SLOT_SIZE as usize + 1], None);
        assert!(matches!(
            choose(Mode::Auto, None, &[big]),
            Err(PlanError::Image(_))
        ));
        let fits_long = image(vec![0x90; 16 * 1024], None);
        assert!(choose(Mode::Long, None, &[fits_long]).is_ok());
    }
}
