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
const ET_EXEC: u16 = 2;
const EM_386: u16 = 3;
const EM_X86_64: u16 = 62;
const PT_LOAD: u32 = 1;
/// More program headers than any kernel has: a corrupt count must not make us loop for long.
const MAX_PHNUM: usize = 256;

pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(ELF_MAGIC)
}

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
    if !is_elf(bytes) {
        return Err(ElfError::NotElf);
    }
    let class = match field(bytes, 4, 1)? {
        1 => Class::Elf32,
        2 => Class::Elf64,
        c => return Err(ElfError::UnknownClass(c)),
    };
    if field(bytes, 5, 1)? != 1 {
        return Err(ElfError::NotLittleEndian);
    }
    let e_type = field(bytes, 16, 2)? as u16;
    if e_type != ET_EXEC {
        return Err(ElfError::NotExecutable(e_type));
    }
    let machine = field(bytes, 18, 2)? as u16;
    if machine != EM_386 && machine != EM_X86_64 {
        return Err(ElfError::NotX86(machine));
    }
    // The two classes differ only in field widths and offsets.
    let (entry, phoff, phentsize, phnum) = match class {
        Class::Elf32 => (
            field(bytes, 24, 4)?,
            field(bytes, 28, 4)?,
            field(bytes, 42, 2)?,
            field(bytes, 44, 2)?,
        ),
        Class::Elf64 => (
            field(bytes, 24, 8)?,
            field(bytes, 32, 8)?,
            field(bytes, 54, 2)?,
            field(bytes, 56, 2)?,
        ),
    };
    let min_phentsize = if class == Class::Elf32 { 32 } else { 56 };
    if phnum as usize > MAX_PHNUM || (phnum > 0 && phentsize < min_phentsize) {
        return Err(ElfError::ImplausibleProgramHeaders {
            count: phnum,
            size: phentsize,
        });
    }
    let mut segments = Vec::new();
    for i in 0..phnum {
        let ph = phoff
            .checked_add(i * phentsize)
            .ok_or(ElfError::ProgramHeaderOffsetOverflows)?;
        if field(bytes, ph, 4)? as u32 != PT_LOAD {
            continue;
        }
        let seg = match class {
            Class::Elf32 => Segment {
                offset: field(bytes, ph + 4, 4)?,
                vaddr: field(bytes, ph + 8, 4)?,
                paddr: field(bytes, ph + 12, 4)?,
                filesz: field(bytes, ph + 16, 4)?,
                memsz: field(bytes, ph + 20, 4)?,
            },
            Class::Elf64 => Segment {
                offset: field(bytes, ph + 8, 8)?,
                vaddr: field(bytes, ph + 16, 8)?,
                paddr: field(bytes, ph + 24, 8)?,
                filesz: field(bytes, ph + 32, 8)?,
                memsz: field(bytes, ph + 40, 8)?,
            },
        };
        let end = seg.offset.checked_add(seg.filesz);
        if end.is_none_or(|end| end > bytes.len() as u64) {
            return Err(ElfError::SegmentPastEnd {
                index: i,
                offset: seg.offset,
                filesz: seg.filesz,
            });
        }
        if seg.filesz > seg.memsz {
            return Err(ElfError::SegmentFileBytesExceedMemory { index: i });
        }
        segments.push(seg);
    }
    if segments.is_empty() {
        return Err(ElfError::NoLoadableSegment);
    }
    Ok(Elf {
        class,
        machine,
        entry,
        segments,
    })
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
    f[4] = if class == Class::Elf32 { 1 } else { 2 };
    f[5] = 1;
    f[6] = 1;
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
