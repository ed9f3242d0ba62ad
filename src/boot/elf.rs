//! Just enough ELF to load a kernel: the file header and the PT_LOAD program headers.
//!
//! Reference: the System V ABI, "gABI" chapters 4 (ELF header) and 5 (program header), and its
//! x86-64 supplement. A loader does not care about sections or symbols: the program headers say
//! which bytes of the file go where in memory (`p_offset`, `p_filesz` -> `p_paddr`), and how much
//! more memory is zero-filled after them (`p_memsz` - `p_filesz`: the `.bss`). Every field read
//! from the file is checked against the file's size, so a corrupt ELF is an error, not a crash.

use super::error::ElfError;

/// An ELF image's class: 32-bit (ELFCLASS32) or 64-bit (ELFCLASS64) headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Elf32,
    Elf64,
}

/// One PT_LOAD segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Physical load address (what a boot loader uses: paging is off).
    pub paddr: u64,
    /// The address the code is linked to run at (higher half, for many kernels).
    pub vaddr: u64,
    pub offset: u64,
    pub filesz: u64,
    pub memsz: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Elf {
    pub class: Class,
    /// EM_386 (3) or EM_X86_64 (62).
    pub machine: u16,
    pub entry: u64,
    pub segments: Vec<Segment>,
}

pub const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
// e_ident bytes (gABI 4, "ELF Identification").
const EI_CLASS: u64 = 4;
const EI_DATA: u64 = 5;
const ELFCLASS32: u64 = 1;
const ELFCLASS64: u64 = 2;
const ELFDATA2LSB: u64 = 1;
// The fields both classes keep at the same place (gABI 4, "ELF Header").
const E_TYPE: u64 = 16;
const E_MACHINE: u64 = 18;
const ET_EXEC: u16 = 2;
const EM_386: u16 = 3;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
/// More program headers than any kernel has: a corrupt count must not make us loop for long.
const MAX_PHNUM: usize = 256;

/// Where a field lies (offset into its header) and how many bytes wide it is.
type At = (u64, usize);

/// Where the fields a loader reads lie in one class's headers: the two classes differ only in
/// field widths and offsets (gABI 4 "ELF Header", 5 "Program Header"; `p_type` is at 0 in both).
struct Fields {
    e_entry: At,
    e_phoff: At,
    e_phentsize: At,
    e_phnum: At,
    /// The size of this class's program header: a smaller `e_phentsize` is corrupt.
    phdr_size: u64,
    p_offset: At,
    p_vaddr: At,
    p_paddr: At,
    p_filesz: At,
    p_memsz: At,
}

/// `Elf32_Ehdr` and `Elf32_Phdr`.
const ELF32_FIELDS: Fields = Fields {
    e_entry: (24, 4),
    e_phoff: (28, 4),
    e_phentsize: (42, 2),
    e_phnum: (44, 2),
    phdr_size: 32,
    p_offset: (4, 4),
    p_vaddr: (8, 4),
    p_paddr: (12, 4),
    p_filesz: (16, 4),
    p_memsz: (20, 4),
};

/// `Elf64_Ehdr` and `Elf64_Phdr` (`p_flags` moves up to offset 4, next to `p_type`).
const ELF64_FIELDS: Fields = Fields {
    e_entry: (24, 8),
    e_phoff: (32, 8),
    e_phentsize: (54, 2),
    e_phnum: (56, 2),
    phdr_size: 56,
    p_offset: (8, 8),
    p_vaddr: (16, 8),
    p_paddr: (24, 8),
    p_filesz: (32, 8),
    p_memsz: (40, 8),
};

impl Class {
    fn fields(self) -> &'static Fields {
        match self {
            Class::Elf32 => &ELF32_FIELDS,
            Class::Elf64 => &ELF64_FIELDS,
        }
    }
}

pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(ELF_MAGIC)
}

/// Reads a little-endian field of `len` bytes at `at`: the one place the file's bytes are
/// indexed, so that every out-of-range offset is an error.
fn field(bytes: &[u8], at: u64, len: usize) -> Result<u64, ElfError> {
    let start = usize::try_from(at).map_err(|_| ElfError::FieldOffsetOverflows)?;
    let slice = start
        .checked_add(len)
        .and_then(|end| bytes.get(start..end))
        .ok_or(ElfError::Truncated { at })?;
    let mut buf = [0u8; 8];
    buf[..len].copy_from_slice(slice);
    Ok(u64::from_le_bytes(buf))
}

/// Parses the ELF header and PT_LOAD segments of a little-endian x86 executable.
pub fn parse(bytes: &[u8]) -> Result<Elf, ElfError> {
    let class = identify(bytes)?;
    let machine = check_type_and_machine(bytes)?;
    let table = program_header_table(bytes, class)?;
    let segments = load_segments(bytes, class, &table)?;
    Ok(Elf {
        class,
        machine,
        entry: table.entry,
        segments,
    })
}

/// The identification bytes (gABI 4, "ELF Identification"): the magic, the class that says
/// how wide every later field is, and the byte order (x86 is little-endian, ELFDATA2LSB).
fn identify(bytes: &[u8]) -> Result<Class, ElfError> {
    if !is_elf(bytes) {
        return Err(ElfError::NotElf);
    }
    let class = match field(bytes, EI_CLASS, 1)? {
        ELFCLASS32 => Class::Elf32,
        ELFCLASS64 => Class::Elf64,
        c => return Err(ElfError::UnknownClass(c)),
    };
    if field(bytes, EI_DATA, 1)? != ELFDATA2LSB {
        return Err(ElfError::NotLittleEndian);
    }
    Ok(class)
}

/// `e_type` and `e_machine` (gABI 4, "ELF Header"): a loader jumps to a fixed address, so the
/// file must be an executable (not a relocatable object or a position-independent ET_DYN),
/// and its code must be x86. Returns `e_machine`.
fn check_type_and_machine(bytes: &[u8]) -> Result<u16, ElfError> {
    let e_type = field(bytes, E_TYPE, 2)? as u16;
    if e_type != ET_EXEC {
        return Err(ElfError::NotExecutable(e_type));
    }
    let machine = field(bytes, E_MACHINE, 2)? as u16;
    if machine != EM_386 && machine != EM_X86_64 {
        return Err(ElfError::NotX86(machine));
    }
    Ok(machine)
}

/// What the ELF header says about the program header table, and the entry point.
struct ProgramHeaderTable {
    entry: u64,
    /// File offset of the first program header.
    offset: u64,
    /// Bytes from one program header to the next (`e_phentsize`).
    stride: u64,
    count: u64,
}

/// Reads `e_entry`, `e_phoff`, `e_phentsize` and `e_phnum` (gABI 4, "ELF Header") and checks
/// that the table is plausible: not absurdly long, and entries big enough to hold the fields
/// read from them (gABI 5 allows larger entries, for future fields, but never smaller ones).
fn program_header_table(bytes: &[u8], class: Class) -> Result<ProgramHeaderTable, ElfError> {
    let f = class.fields();
    let read = |(at, len): At| field(bytes, at, len);
    let table = ProgramHeaderTable {
        entry: read(f.e_entry)?,
        offset: read(f.e_phoff)?,
        stride: read(f.e_phentsize)?,
        count: read(f.e_phnum)?,
    };
    if table.count as usize > MAX_PHNUM || (table.count > 0 && table.stride < f.phdr_size) {
        return Err(ElfError::ImplausibleProgramHeaders {
            count: table.count,
            size: table.stride,
        });
    }
    Ok(table)
}

/// Walks the program headers (gABI 5, "Program Header") and keeps the PT_LOAD ones, the only
/// type a loader without a dynamic linker acts on; at least one must exist.
fn load_segments(
    bytes: &[u8],
    class: Class,
    table: &ProgramHeaderTable,
) -> Result<Vec<Segment>, ElfError> {
    let mut segments = Vec::new();
    for i in 0..table.count {
        let ph = i
            .checked_mul(table.stride)
            .and_then(|at| table.offset.checked_add(at))
            .ok_or(ElfError::ProgramHeaderOffsetOverflows)?;
        if field(bytes, ph, 4)? as u32 != PT_LOAD {
            continue;
        }
        let segment = read_segment(bytes, class, ph)?;
        check_segment(bytes, i, &segment)?;
        segments.push(segment);
    }
    if segments.is_empty() {
        return Err(ElfError::NoLoadableSegment);
    }
    Ok(segments)
}

/// Reads the fields of the program header at file offset `ph` that say where a segment is in
/// the file and where it goes in memory.
fn read_segment(bytes: &[u8], class: Class, ph: u64) -> Result<Segment, ElfError> {
    let f = class.fields();
    let read = |(at, len): At| {
        let at = ph
            .checked_add(at)
            .ok_or(ElfError::ProgramHeaderOffsetOverflows)?;
        field(bytes, at, len)
    };
    Ok(Segment {
        offset: read(f.p_offset)?,
        vaddr: read(f.p_vaddr)?,
        paddr: read(f.p_paddr)?,
        filesz: read(f.p_filesz)?,
        memsz: read(f.p_memsz)?,
    })
}

/// The segment bounds a loader relies on (gABI 5, "Program Header"): its `p_filesz` bytes from
/// `p_offset` lie inside the file, and `p_filesz <= p_memsz` (the rest of memory is the
/// zero-filled bss; more file bytes than memory is a corrupt header).
fn check_segment(bytes: &[u8], index: u64, seg: &Segment) -> Result<(), ElfError> {
    let end = seg.offset.checked_add(seg.filesz);
    if end.is_none_or(|end| end > bytes.len() as u64) {
        return Err(ElfError::SegmentPastEnd {
            index,
            offset: seg.offset,
            filesz: seg.filesz,
        });
    }
    if seg.filesz > seg.memsz {
        return Err(ElfError::SegmentFileBytesExceedMemory { index });
    }
    Ok(())
}

/// Builds a minimal ELF file for tests (here and in multiboot.rs): one PT_LOAD segment holding
/// `code` at `paddr`, entry at `entry`.
#[cfg(test)]
pub fn test_elf(class: Class, paddr: u64, entry: u64, code: &[u8], bss: u64) -> Vec<u8> {
    let (ehsize, phentsize) = if class == Class::Elf32 {
        (52, 32)
    } else {
        (64, 56)
    };
    let offset = (ehsize + phentsize) as u64;
    let mut f = vec![0u8; offset as usize];
    f[..4].copy_from_slice(ELF_MAGIC);
    f[EI_CLASS as usize] = if class == Class::Elf32 {
        ELFCLASS32
    } else {
        ELFCLASS64
    } as u8;
    f[EI_DATA as usize] = ELFDATA2LSB as u8;
    f[6] = 1; // EI_VERSION: EV_CURRENT
    f[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
    let machine = if class == Class::Elf32 {
        EM_386
    } else {
        EM_X86_64
    };
    f[18..20].copy_from_slice(&machine.to_le_bytes());
    let put = |f: &mut Vec<u8>, at: usize, v: u64, w: usize| {
        f[at..at + w].copy_from_slice(&v.to_le_bytes()[..w]);
    };
    let ph = ehsize;
    let (filesz, memsz) = (code.len() as u64, code.len() as u64 + bss);
    if class == Class::Elf32 {
        put(&mut f, 24, entry, 4);
        put(&mut f, 28, ph as u64, 4);
        put(&mut f, 42, phentsize as u64, 2);
        put(&mut f, 44, 1, 2);
        put(&mut f, ph, PT_LOAD.into(), 4);
        put(&mut f, ph + 4, offset, 4);
        put(&mut f, ph + 8, paddr, 4);
        put(&mut f, ph + 12, paddr, 4);
        put(&mut f, ph + 16, filesz, 4);
        put(&mut f, ph + 20, memsz, 4);
    } else {
        put(&mut f, 24, entry, 8);
        put(&mut f, 32, ph as u64, 8);
        put(&mut f, 54, phentsize as u64, 2);
        put(&mut f, 56, 1, 2);
        put(&mut f, ph, PT_LOAD.into(), 4);
        put(&mut f, ph + 8, offset, 8);
        put(&mut f, ph + 16, paddr | 0xFFFF_FFFF_8000_0000, 8);
        put(&mut f, ph + 24, paddr, 8);
        put(&mut f, ph + 32, filesz, 8);
        put(&mut f, ph + 40, memsz, 8);
    }
    f.extend_from_slice(code);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_elf32_and_elf64_load_segments() {
        let f = test_elf(Class::Elf32, 0x100000, 0x100004, &[0x90; 16], 0x100);
        let elf = parse(&f).unwrap();
        assert_eq!(
            (elf.class, elf.machine, elf.entry),
            (Class::Elf32, 3, 0x100004)
        );
        assert_eq!(
            elf.segments,
            vec![Segment {
                paddr: 0x100000,
                vaddr: 0x100000,
                offset: 84,
                filesz: 16,
                memsz: 0x110
            }]
        );
        let f = test_elf(Class::Elf64, 0x200000, 0x200000, &[0xF4], 0);
        let elf = parse(&f).unwrap();
        assert_eq!((elf.class, elf.machine), (Class::Elf64, 62));
        assert_eq!(elf.segments[0].paddr, 0x200000);
        assert_eq!(elf.segments[0].vaddr, 0xFFFF_FFFF_8020_0000);
    }

    #[test]
    fn corrupt_files_are_errors_never_panics() {
        let good = test_elf(Class::Elf64, 0x100000, 0x100000, &[0x90; 64], 0);
        // Every truncation of a valid file fails cleanly.
        for len in 0..good.len() - 1 {
            assert!(parse(&good[..len]).is_err(), "truncated to {len}");
        }
        // A segment pointing past the end of the file.
        let mut bad = good.clone();
        bad[64 + 32] = 0xFF; // p_filesz low byte
        bad[64 + 33] = 0xFF;
        assert!(parse(&bad)
            .unwrap_err()
            .to_string()
            .contains("past the end"));
        // Absurd program header count.
        let mut bad = good.clone();
        bad[56] = 0xFF;
        bad[57] = 0xFF;
        assert!(parse(&bad).unwrap_err().to_string().contains("implausible"));
        // Not x86, not executable, not ELF.
        let mut bad = good.clone();
        bad[18] = 40;
        assert!(parse(&bad).unwrap_err().to_string().contains("not x86"));
        let mut bad = good.clone();
        bad[16] = 3;
        assert!(parse(&bad).unwrap_err().to_string().contains("ET_EXEC"));
        assert!(parse(b"MZ\x90\x00").is_err());
        // Random bytes after a valid magic.
        let mut seed = 0x1234_5678u32;
        for _ in 0..2000 {
            let mut f = good.clone();
            for _ in 0..4 {
                seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12345);
                let at = (seed as usize >> 8) % f.len();
                f[at] = (seed >> 3) as u8;
            }
            let _ = parse(&f);
        }
    }
}
