//! Choosing how a run boots: the [`Plan`] follows the options and what the images are, and
//! says what VM it needs ([`Layout`]) and how to write each guest into it ([`Plan::load`]).
//!
//! The protocols themselves are in the sibling files (boot/mod.rs has the table); this file
//! only decides between them, from the images' contents (a Multiboot header, ELF magic) and
//! the seed's options (`--long-mode`, `--paging`, `--mem`).

use super::error::LoadError;
use super::multiboot::{self, Header, Module};
use super::start::Start;
use super::{elf, linux, longmode, paging32, realmode};
use super::{low_ram, mapping_size, DEFAULT_KERNEL_RAM, LOW_RAM_END};
use crate::guests::{GuestMode, Image, ImageError, Origin};
use crate::memory::GuestMemory;

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
    /// RAM above the 4 GiB hole, one more memory slot at [`super::HIGH_RAM_START`] (0: none).
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

/// Chooses the boot protocol from the options and the images' contents: a Multiboot kernel
/// boots alone by its own protocol; flat binaries boot in the mode the options or the built-in
/// guests ask for, and must fit that mode's slot.
pub fn choose(mode: Mode, mem: Option<u64>, images: &[Image]) -> Result<Plan, PlanError> {
    if let Some(header) = find_kernel(images)? {
        return multiboot_plan(header, mode, mem, images.len());
    }
    if mem.is_some() {
        return Err(PlanError::Usage(
            "--mem is for Multiboot kernels; flat guests get the seed's fixed slots".into(),
        ));
    }
    let plan = flat_plan(mode, images)?;
    for image in images {
        check_fits(&plan, image)?;
    }
    Ok(plan)
}

/// Recognises kernels by their contents: a Multiboot header in the first 8 KiB (Multiboot
/// 0.6.96, 3.1.1) makes an image a kernel. An ELF file without one is refused rather than run
/// as a flat binary, which it is not. Returns the first kernel's header; every image's header
/// is checked.
fn find_kernel(images: &[Image]) -> Result<Option<Header>, PlanError> {
    let mut first = None;
    for image in images {
        match multiboot::find_header(&image.bytes) {
            Err(why) => return Err(image_error(image, why)),
            Ok(Some(header)) => {
                first.get_or_insert(header);
            }
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
    Ok(first)
}

/// A Multiboot kernel owns the machine: it is the only guest, it sets up its own CPU mode
/// (Multiboot 0.6.96, 3.2, hands it over in 32-bit protected mode), and it gets `--mem` bytes
/// of RAM or [`DEFAULT_KERNEL_RAM`].
fn multiboot_plan(
    header: Header,
    mode: Mode,
    mem: Option<u64>,
    guests: usize,
) -> Result<Plan, PlanError> {
    if guests > 1 {
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
    Ok(Plan::Multiboot { header, ram })
}

/// The mode of a run of flat binaries: the option's, or, without one, the one every built-in
/// guest declares (all 64-bit or none: the vCPUs of one run share one setup).
fn flat_plan(mode: Mode, images: &[Image]) -> Result<Plan, PlanError> {
    let declared_long = images
        .iter()
        .filter(|i| i.mode == Some(GuestMode::Long))
        .count();
    match mode {
        Mode::Long => Ok(Plan::Long),
        Mode::Paging { entry, load } => {
            if images.len() > 1 {
                return Err(PlanError::Usage("--paging runs one guest".into()));
            }
            Ok(Plan::Paging { entry, load })
        }
        Mode::Auto if declared_long == images.len() => Ok(Plan::Long),
        Mode::Auto if declared_long > 0 => Err(PlanError::Usage(
            "64-bit and 16-bit guests cannot share a run: give --long-mode guests together".into(),
        )),
        Mode::Auto => Ok(Plan::Real),
    }
}

/// A flat image must fit where its mode loads it: a real-mode slot, the room below a
/// long-mode slot's stack and tables, or the `--paging` memory outside its tables.
fn check_fits(plan: &Plan, image: &Image) -> Result<(), PlanError> {
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
        paging32::check_image(*load, len).map_err(|why| image_error(image, why))?;
    }
    Ok(())
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
