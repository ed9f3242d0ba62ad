//! Why a guest cannot boot: one error type per boot protocol, so that a caller can tell the
//! causes apart, and a `Display` that names the cause. The messages follow the image's name
//! (`k.elf: not an ELF file`), which the caller adds (guests::ImageError).

use super::{linux, multiboot};
use crate::memory::MemoryError;
use std::fmt;

/// An ELF executable that cannot be loaded (elf.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ElfError {
    /// No `\x7fELF` magic.
    NotElf,
    /// A header field's offset does not fit in a `usize`.
    FieldOffsetOverflows,
    /// A header field at byte `at` lies past the end of the file.
    Truncated { at: u64 },
    /// `EI_CLASS` is neither ELFCLASS32 (1) nor ELFCLASS64 (2).
    UnknownClass(u64),
    /// `EI_DATA` is not ELFDATA2LSB.
    NotLittleEndian,
    /// `e_type` is not ET_EXEC.
    NotExecutable(u16),
    /// `e_machine` is neither EM_386 nor EM_X86_64.
    NotX86(u16),
    /// `e_phnum` program headers of `e_phentsize` bytes: too many, or too small to hold a
    /// program header.
    ImplausibleProgramHeaders { count: u64, size: u64 },
    /// A program header's offset (`e_phoff` + index x `e_phentsize`) overflows.
    ProgramHeaderOffsetOverflows,
    /// Segment `index`'s file bytes `offset..offset + filesz` lie past the end of the file.
    SegmentPastEnd { index: u64, offset: u64, filesz: u64 },
    /// Segment `index` has `p_filesz > p_memsz`.
    SegmentFileBytesExceedMemory { index: u64 },
    /// No PT_LOAD program header.
    NoLoadableSegment,
}

impl fmt::Display for ElfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ElfError::*;
        match *self {
            NotElf => f.write_str("not an ELF file"),
            FieldOffsetOverflows => f.write_str("header field offset overflows"),
            Truncated { at } => {
                write!(f, "truncated: a header field at byte {at} is past the end of the file")
            }
            UnknownClass(class) => write!(f, "unknown ELF class {class}"),
            NotLittleEndian => f.write_str("not a little-endian ELF file"),
            NotExecutable(e_type) => write!(
                f,
                "ELF type {e_type} is not an executable (ET_EXEC): link the kernel with -static \
                 and no -pie"
            ),
            NotX86(machine) => write!(f, "ELF machine {machine} is not x86 (3) or x86-64 (62)"),
            ImplausibleProgramHeaders { count, size } => {
                write!(f, "implausible program headers ({count} of {size} bytes)")
            }
            ProgramHeaderOffsetOverflows => f.write_str("program header offset overflows"),
            SegmentPastEnd { index, offset, filesz } => write!(
                f,
                "segment {index} claims file bytes {offset:#x}+{filesz:#x}, past the end of the \
                 file"
            ),
            SegmentFileBytesExceedMemory { index } => {
                write!(f, "segment {index} has more file bytes than memory bytes")
            }
            NoLoadableSegment => f.write_str("no loadable (PT_LOAD) segment"),
        }
    }
}

impl std::error::Error for ElfError {}

/// A `--paging` kernel that does not fit where it is loaded (paging32.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PagingImageError {
    /// The load address plus the image's length overflows.
    LoadOverflows,
    /// `load..end` overlaps `what` at `start..stop`.
    Overlaps { load: u64, end: u64, what: &'static str, start: u64, stop: u64 },
    /// Loaded at `load`, the image would end past the 4 MiB of RAM.
    PastMemory { load: u64 },
}

impl fmt::Display for PagingImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use PagingImageError::*;
        match *self {
            LoadOverflows => f.write_str("load address overflows"),
            Overlaps { load, end, what, start, stop } => write!(
                f,
                "loaded at {load:#x}-{end:#x} it would overlap {what} at {start:#x}-{stop:#x} \
                 (see --load)"
            ),
            PastMemory { load } => {
                write!(f, "loaded at {load:#x} it would end past 4 MiB of RAM (see --load)")
            }
        }
    }
}

impl std::error::Error for PagingImageError {}

/// What a range of guest memory holds, in a [`MultibootError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Contents {
    KernelSegment,
    /// A module, by its name.
    Module(String),
}

impl fmt::Display for Contents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Contents::KernelSegment => f.write_str("kernel segment"),
            Contents::Module(name) => write!(f, "module {name}"),
        }
    }
}

/// A Multiboot kernel, or its modules, that cannot be loaded (multiboot.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultibootError {
    /// The header at byte `offset`: magic + flags + checksum is not 0.
    BadChecksum { offset: usize },
    /// Requirement flags (bits 0-15) this loader does not know.
    UnknownRequirements { flags: u32 },
    /// Flag bit 16 is set but the file ends inside the address fields.
    AddressFieldsCutOff,
    /// `header_addr < load_addr`.
    HeaderBelowLoad,
    /// `load_end_addr < load_addr`.
    LoadEndBelowLoad,
    /// The address fields name more bytes than the file has.
    AddressFieldsPastFile,
    /// An ELF kernel (no address fields) whose ELF headers are wrong.
    Elf(ElfError),
    /// A segment's file bytes plus its zeros overflow.
    SegmentSizeOverflows,
    /// `what` at `addr` runs past the end of the address space.
    Wraps { what: Contents, addr: u64 },
    /// `what` at `addr..end` is not inside the `ram` bytes of guest RAM.
    OutsideRam { what: Contents, addr: u64, end: u64, ram: u64 },
    /// `what` at `addr..end` overlaps [`multiboot::BOOT_AREA`].
    OverlapsBootArea { what: Contents, addr: u64, end: u64 },
    /// Two kernel segments share addresses.
    SegmentsOverlap { a: u64, a_end: u64, b: u64, b_end: u64 },
    /// The entry point lies in none of the placements, or above 4 GiB.
    EntryOutsideKernel { entry: u64 },
    /// The command line and module names do not fit the boot area.
    StringsTooLong,
    /// More than [`multiboot::MAX_MODULES`] modules.
    TooManyModules,
    /// Guest RAM ends at or below 1 MiB, where a kernel loads.
    TooLittleRam,
    /// A write into guest RAM failed.
    Memory(MemoryError),
}

impl fmt::Display for MultibootError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use MultibootError::*;
        let fields = "Multiboot address fields";
        match self {
            BadChecksum { offset } => write!(
                f,
                "bad Multiboot header checksum at byte {offset:#x} (magic + flags + checksum \
                 must be 0)"
            ),
            UnknownRequirements { flags } => write!(
                f,
                "the Multiboot header requires features mini-kvm does not know (flags {flags:#x})"
            ),
            AddressFieldsCutOff => f.write_str("the Multiboot header's address fields are cut off"),
            HeaderBelowLoad => write!(f, "{fields}: header_addr is below load_addr"),
            LoadEndBelowLoad => write!(f, "{fields}: load_end_addr is below load_addr"),
            AddressFieldsPastFile => write!(f, "{fields} describe more bytes than the file has"),
            Elf(e) => e.fmt(f),
            SegmentSizeOverflows => f.write_str("a kernel segment's size overflows"),
            Wraps { what, addr } => write!(f, "{what} at {addr:#x} wraps around the address space"),
            OutsideRam { what, addr, end, ram } => write!(
                f,
                "{what} {addr:#x}-{end:#x} lies outside guest RAM (0-{ram:#x}; see --mem)"
            ),
            OverlapsBootArea { what, addr, end } => write!(
                f,
                "{what} {addr:#x}-{end:#x} overlaps the area mini-kvm uses for boot information \
                 ({:#x}-{:#x}): link the kernel at 1 MiB or above",
                multiboot::BOOT_AREA,
                multiboot::BOOT_AREA + multiboot::BOOT_AREA_SIZE as u64
            ),
            SegmentsOverlap { a, a_end, b, b_end } => {
                write!(f, "kernel segments {a:#x}-{a_end:#x} and {b:#x}-{b_end:#x} overlap")
            }
            EntryOutsideKernel { entry } => write!(
                f,
                "entry point {entry:#x} is not inside the loaded kernel: with paging off at \
                 entry it must be a physical address"
            ),
            StringsTooLong => f.write_str("the kernel command line and module names are too long"),
            TooManyModules => write!(f, "at most {} modules", multiboot::MAX_MODULES),
            TooLittleRam => {
                f.write_str("a Multiboot kernel needs more than 1 MiB of RAM (see --mem)")
            }
            Memory(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for MultibootError {}

impl From<ElfError> for MultibootError {
    fn from(e: ElfError) -> Self {
        MultibootError::Elf(e)
    }
}

impl From<MemoryError> for MultibootError {
    fn from(e: MemoryError) -> Self {
        MultibootError::Memory(e)
    }
}

/// What to give `--linux` instead, in every message about a file that is not a bzImage.
pub const GIVE_A_BZIMAGE: &str =
    "give --linux the kernel's bzImage (arch/x86/boot/bzImage, /boot/vmlinuz-*)";

/// A file given to `--linux` that is not a bzImage mini-kvm can boot (linux.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BzImageError {
    /// The file ends before `field` (in words: "the setup header's version") at offset `at`,
    /// or inside it.
    TooShort { file_len: u64, field: &'static str, at: usize },
    /// No "HdrS" magic in the setup header.
    NoMagic,
    /// The boot protocol `version` is older than 2.12.
    OldProtocol { version: u16 },
    /// No 0xAA55 boot flag.
    NoBootFlag,
    /// LOADED_HIGH clear: a zImage, loaded at 0x10000.
    ZImage,
    /// `xloadflags` without XLF_KERNEL_64.
    No64BitEntry { xloadflags: u16 },
    /// `kernel_alignment` is not a power of two.
    BadAlignment { kernel_alignment: u32 },
    /// The file is shorter than its `setup_sects` say the setup is.
    SetupTruncated { file_len: u64, setup_size: u64, setup_sects: u8 },
}

impl fmt::Display for BzImageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use linux::{BOOT_FLAG_AT, HEADER, SETUP_HEADER_END};
        use BzImageError::*;
        match *self {
            TooShort { file_len, field, at } => write!(
                f,
                "is {file_len} bytes, too short for a Linux bzImage: it ends before {field} at \
                 byte {at:#x} (the setup header alone ends at byte {SETUP_HEADER_END:#x}); \
                 truncated, or {GIVE_A_BZIMAGE}"
            ),
            NoMagic => write!(
                f,
                "is not a Linux bzImage: no \"HdrS\" magic at offset {HEADER:#x} (boot.rst, \"The \
                 real-mode kernel header\"); {GIVE_A_BZIMAGE}, not a vmlinux ELF or a compressed \
                 file"
            ),
            OldProtocol { version } => write!(
                f,
                "speaks boot protocol {}.{:02}; mini-kvm needs 2.12 or later (a kernel from 3.8 \
                 on), whose 64-bit entry point it uses",
                version >> 8,
                version & 0xFF
            ),
            NoBootFlag => write!(
                f,
                "has a setup header but no boot flag 0xAA55 at {BOOT_FLAG_AT:#x}: a corrupt bzImage"
            ),
            ZImage => f.write_str(
                "is a zImage (loadflags LOADED_HIGH clear: it wants to be loaded at 0x10000); \
                 mini-kvm boots bzImages only",
            ),
            No64BitEntry { xloadflags } => write!(
                f,
                "has no 64-bit entry point (xloadflags {xloadflags:#x} without XLF_KERNEL_64): \
                 mini-kvm boots 64-bit x86 kernels"
            ),
            BadAlignment { kernel_alignment } => write!(
                f,
                "has kernel_alignment {kernel_alignment:#x}, not a power of two: a corrupt header"
            ),
            SetupTruncated { file_len, setup_size, setup_sects } => write!(
                f,
                "is {file_len} bytes, but its header says the setup alone takes {setup_size} \
                 ({setup_sects} setup_sects): truncated or corrupt"
            ),
        }
    }
}

impl std::error::Error for BzImageError {}

/// An initrd that does not fit where the boot protocol allows it (zeropage.rs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitrdTooLarge {
    pub size: u64,
    /// The kernel's end, page-aligned: the lowest address the initrd may start at.
    pub floor: u64,
    /// The lower of `ram` and `addr_limit`: where the initrd must end.
    pub ceiling: u64,
    pub ram: u64,
    /// The header's initrd_addr_max + 1.
    pub addr_limit: u64,
}

impl InitrdTooLarge {
    /// What would make it fit: more guest RAM only while RAM, not the kernel's
    /// `initrd_addr_max`, is the ceiling and the most `--linux` takes (3 GiB) would do.
    fn fix(&self) -> String {
        let needed = self.floor.saturating_add(self.size);
        let most_ram = super::LOW_RAM_END;
        if self.ram < self.addr_limit && needed <= self.addr_limit.min(most_ram) {
            let mib = needed.div_ceil(1 << 20);
            return format!("give a larger --mem (--mem {mib}M at least)");
        }
        let limit = if self.addr_limit <= self.ram {
            "the kernel's initrd_addr_max is the limit, which no --mem raises"
        } else if self.addr_limit <= most_ram {
            "even with RAM up to initrd_addr_max it would not fit"
        } else {
            "even with the most RAM --linux takes (--mem 3G) it would not fit"
        };
        format!("{limit}: give a smaller initrd (fewer files, or compressed harder: xz)")
    }
}

impl fmt::Display for InitrdTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let InitrdTooLarge { size, floor, ceiling, ram, addr_limit } = *self;
        write!(
            f,
            "is {size} bytes; it must fit between the kernel's end at {floor:#x} and \
             {ceiling:#x} (the lower of guest RAM, {ram:#x}, and the header's initrd_addr_max \
             + 1, {addr_limit:#x}): {} bytes at most; {}",
            ceiling.saturating_sub(floor),
            self.fix()
        )
    }
}

impl std::error::Error for InitrdTooLarge {}

/// A write into guest memory that failed while loading (the guest RAM is too small for it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LoadError {
    /// A flat image, or its page tables.
    Memory(MemoryError),
    /// Part `what` of a Linux boot ("kernel", "initrd", "zero page", ...) at `gpa`.
    Linux { what: &'static str, gpa: u64, error: MemoryError },
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadError::Memory(e) => e.fmt(f),
            LoadError::Linux { what, gpa, error } => {
                write!(f, "writing the {what} at {gpa:#x}: {error}")
            }
        }
    }
}

impl std::error::Error for LoadError {}

impl From<MemoryError> for LoadError {
    fn from(e: MemoryError) -> Self {
        LoadError::Memory(e)
    }
}
