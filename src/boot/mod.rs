//! Boot protocols: how a guest image gets into memory and what state its vCPU starts in.
//!
//! A real PC starts in real mode at 0xFFFF0 and leaves the rest to firmware. A VMM can skip the
//! firmware: it writes the image into guest RAM itself and sets the registers with
//! KVM_SET_REGS/KVM_SET_SREGS to the state the image expects. Each protocol is a
//! [`Boot`](crate::machine::Boot):
//!
//! | protocol      | chosen when                            | file          |
//! |---------------|----------------------------------------|---------------|
//! | real mode     | a flat binary (the default; the core)  | [`realmode`]  |
//! | long mode     | `--long-mode`, or a 64-bit built-in    | [`longmode`]  |
//! | 32-bit paging | `--paging` (the C VMM's flat kernels)  | [`paging32`]  |
//! | Multiboot v1  | the file is a Multiboot kernel         | [`multiboot`] |
//! | Linux x86     | `--linux BZIMAGE`                      | [`linux`], [`zeropage`] |
//!
//! [`choose`] picks the protocol from the options and the files' contents (an ELF file or one
//! with a Multiboot header is a kernel; anything else is a flat binary), and checks every
//! size before a byte is read. Kernels also get what an OS expects of a PC ([`kernel`]).

pub mod acpi;
pub mod elf;
pub mod error;
pub mod files;
pub mod kernel;
pub mod linux;
pub mod longmode;
pub mod multiboot;
pub mod paging32;
pub mod realmode;
pub mod zeropage;

use crate::cli::Config;
use crate::error::Ending;
use crate::guests::Embedded;
use crate::guests::{Image, Kind};
use crate::kvm::bindings::{kvm_segment, kvm_sregs};
use crate::machine::{Boot, Stops};

/// Guest RAM for a Multiboot kernel unless `--mem` says otherwise.
pub const DEFAULT_KERNEL_RAM: u64 = 32 << 20;
/// RAM below 4 GiB ends here, as on a PC: 3 GiB to 4 GiB is the hole where the LAPIC, the
/// IOAPIC and KVM's TSS pages live.
pub const LOW_RAM_END: u64 = 3 << 30;
/// RAM beyond the first 3 GiB continues here, above the hole.
pub const HIGH_RAM_START: u64 = 4 << 30;

/// RAM below the hole, where a kernel and its modules are loaded, for `ram` bytes.
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

// [tour:flat-segment]
/// A flat segment: base 0, 4 GiB limit, ring 0, as every protected- and long-mode setup here
/// uses (Intel SDM Vol. 3A, 3.4.5). `type_` 0xB is execute/read code, 0x3 read/write data; a
/// 64-bit code segment has L = 1 and must have D = 0.
pub fn flat_segment(selector: u16, code: bool, long_mode: bool) -> kvm_segment {
    let (type_, l) = if code { (0xB, u8::from(long_mode)) } else { (0x3, 0) };
    let db = u8::from(!(code && long_mode));
    kvm_segment {
        limit: 0xFFFF_FFFF,
        selector,
        type_,
        present: 1,
        db,
        s: 1,
        l,
        g: 1,
        ..Default::default()
    }
}
// [/tour:flat-segment]

/// Loads the same segment into DS, ES, FS, GS and SS.
pub fn set_data_segments(sregs: &mut kvm_sregs, s: kvm_segment) {
    (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) = (s, s, s, s, s);
}

/// A `--mem` size: 2M to 16G, a multiple of 4 KiB (K, M, G suffixes, or 0x hex).
pub fn parse_mem(text: &str) -> Result<u64, Ending> {
    let t = text.trim();
    let hex = t.starts_with("0x") || t.starts_with("0X");
    let split =
        if hex { t.len() } else { t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len()) };
    let (number, unit) = t.split_at(split);
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => 64,
    };
    let size = parse_number(number).filter(|_| shift < 64).and_then(|n| n.checked_mul(1 << shift));
    let size =
        size.ok_or_else(|| Ending::Usage(format!("--mem needs a size such as 64M, not '{text}'")))?;
    if !((2 << 20)..=(16 << 30)).contains(&size) || size % 4096 != 0 {
        return Err(Ending::Usage(format!(
            "--mem must be a multiple of 4 KiB from 2M to 16G, not '{text}'"
        )));
    }
    Ok(size)
}

/// `--cmdline`: at most 4096 bytes, for any kernel.
pub fn check_cmdline(cmdline: &str) -> Result<(), Ending> {
    match cmdline.len() <= multiboot::MAX_CMDLINE {
        true => Ok(()),
        false => Err(Ending::Usage(format!(
            "--cmdline is {} bytes; the kernel command line may have at most {}",
            cmdline.len(),
            multiboot::MAX_CMDLINE
        ))),
    }
}

/// A number as C's strtoul with base 0 reads it: 0x hex, leading-0 octal, or decimal.
pub fn parse_number(text: &str) -> Option<u64> {
    let t = text.trim();
    match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None if t.len() > 1 && t.starts_with('0') => u64::from_str_radix(&t[1..], 8).ok(),
        None => t.parse().ok(),
    }
}

/// A guest named on the command line, found but not yet read.
pub struct Opened {
    pub arg: String,
    /// The open file, its length, and its first [`HEAD_SIZE`] bytes; `None`: built in.
    pub file: Option<(std::fs::File, u64, Vec<u8>)>,
    pub embedded: Option<&'static Embedded>,
}

/// How much of a file is read to tell what it is (a Multiboot header lies in the first 8 KiB).
pub const HEAD_SIZE: u64 = 8192;

/// `arg` as a guest: the built-in one of that name (unless a file has it), else a file,
/// opened and checked (files.rs).
pub fn open(arg: &str) -> Result<Opened, Ending> {
    match crate::guests::builtin(arg) {
        Some(g) => Ok(Opened { arg: arg.into(), file: None, embedded: Some(g) }),
        None => files::open(arg),
    }
}

impl Opened {
    /// The image's size, known before reading it.
    pub fn len(&self) -> u64 {
        self.file
            .as_ref()
            .map_or_else(|| self.embedded.map_or(0, |g| g.bytes.len() as u64), |f| f.1)
    }

    /// The first bytes: all of a built-in image, the first [`HEAD_SIZE`] of a file.
    pub fn head(&self) -> &[u8] {
        match &self.file {
            Some(f) => &f.2,
            None => self.embedded.map_or(&[][..], |g| g.bytes),
        }
    }

    /// A kernel: a built-in one, or a file with a Multiboot header or ELF magic.
    pub fn is_kernel(&self) -> bool {
        match self.embedded {
            Some(g) => g.kind == Kind::Kernel,
            None => {
                let head = self.head();
                !matches!(multiboot::find_header(head), Ok(None)) || elf::is_elf(head)
            }
        }
    }

    /// `Err` unless the image is at most `limit` bytes (`what` says whose limit).
    pub fn fits(&self, limit: u64, what: &str) -> Result<(), Ending> {
        match self.len() <= limit {
            true => Ok(()),
            false => Err(self.error(format!("is {} bytes, larger than {what}", self.len()))),
        }
    }

    /// The image cannot be used: `reason`, with its name as given.
    pub fn error(&self, reason: impl std::fmt::Display) -> Ending {
        Ending::Image { path: self.arg.clone(), reason: reason.to_string() }
    }

    /// Reads the whole image (a built-in one costs nothing), in chunks between which a stop
    /// request (a signal, `--timeout`) is honoured.
    pub fn read(self, stops: &Stops) -> Result<Image, Ending> {
        match (self.file, self.embedded) {
            (Some((file, len, head)), _) => files::read(self.arg, file, len, head, stops),
            // open() gives a file or a built-in guest, never neither.
            (None, g) => Ok(g.expect("a built-in guest").image()),
        }
    }
}

/// Chooses the boot protocol for the run: `--linux`; else a kernel (alone) if a file is one;
/// else flat binaries in the CPU mode the options or the built-in guests ask for.
pub fn choose(config: &Config, stops: &Stops) -> Result<Box<dyn Boot>, Ending> {
    if config.flag("--linux") {
        return linux::choose(config, stops);
    }
    let opened = config.guests.iter().map(|g| open(g)).collect::<Result<Vec<_>, _>>()?;
    let kernel = opened.iter().any(Opened::is_kernel);
    if !kernel && (config.flag("--module") || config.flag("--cmdline")) {
        return Err(Ending::Usage(
            "--cmdline and --module are for Multiboot kernels; flat guests get neither".into(),
        ));
    }
    if kernel {
        return multiboot::choose(config, opened, stops);
    }
    if config.flag("--cpus") {
        return Err(Ending::Usage("--cpus is for an OS kernel (Multiboot or --linux), which starts its other CPUs itself; flat guests run one vCPU each: give several guests for several vCPUs".into()));
    }
    if config.flag("--mem") {
        return Err(Ending::Usage(
            "--mem is for Multiboot kernels; flat guests get the C VMM's fixed slots".into(),
        ));
    }
    let long = opened.iter().filter(|o| o.embedded.is_some_and(|g| g.kind == Kind::Long)).count();
    let mode = match (config.flag("--long-mode"), config.flag("--paging")) {
        (true, _) => Kind::Long,
        (_, true) if opened.len() > 1 => {
            return Err(Ending::Usage("--paging runs one guest".into()))
        }
        (_, true) => return paging32::Paging32::choose(config, opened, stops),
        _ if long == opened.len() => Kind::Long,
        _ if long > 0 => {
            return Err(Ending::Usage(
                "64-bit and 16-bit guests cannot share a run: give --long-mode guests together"
                    .into(),
            ))
        }
        _ => Kind::Real,
    };
    let (limit, what) = match mode {
        Kind::Long => (longmode::MAX_IMAGE, format!("the {} bytes a 64-bit (--long-mode) guest can have", longmode::MAX_IMAGE)),
        _ => (realmode::SLOT_SIZE, format!("the {} bytes of a real-mode guest's slot (a flat binary; a Multiboot kernel would be recognised from its header)", realmode::SLOT_SIZE)),
    };
    opened.iter().try_for_each(|o| o.fits(limit, &what))?;
    let images = read_all(opened, stops)?;
    match mode {
        Kind::Long => Ok(Box::new(longmode::LongMode { images })),
        _ => Ok(Box::new(realmode::RealMode::new(images)?)),
    }
}

/// Reads every opened image (sizes already checked), honouring stops between chunks.
pub fn read_all(opened: Vec<Opened>, stops: &Stops) -> Result<Vec<Image>, Ending> {
    opened.into_iter().map(|o| o.read(stops)).collect()
}

#[cfg(test)]
mod tests;
