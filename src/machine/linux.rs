//! `--linux`: from the command line to a checked boot plan and the bytes to load.
//!
//! The order keeps the rule that nothing is read whole before its size is checked
//! (boot.rst's limits, see boot/linux.rs): the bzImage's first 8 KiB (its setup header) and the
//! sizes of both files from their metadata, then the header's checks, the command line against
//! `cmdline_size`, the kernel and initrd against `--mem` and `initrd_addr_max` ([`check_linux`]).
//! Between that and reading the files ([`CheckedLinux::read`]) the caller asks the host whether
//! it can boot Linux at all (machine/mod.rs), so a paravirtual KVM's refusal never waits for a
//! large initrd to be read. The files are read in pieces between which a stop request is seen.

use super::control::StopSignals;
use super::Config;
use crate::boot::error::GIVE_A_BZIMAGE;
use crate::boot::linux::{self, PlanProblem};
use crate::boot::multiboot::Module;
use crate::boot::Plan;
use crate::error::Error;
use crate::guests::{self, Image, ImageError, Opened};

/// Guest RAM for a Linux kernel unless `--mem` says otherwise.
pub const DEFAULT_LINUX_RAM: u64 = 256 << 20;

fn image_error(path: &str, reason: String) -> Error {
    Error::Image(ImageError {
        path: path.to_string(),
        reason,
    })
}

/// Opens a file given to `--linux` or `--initrd`: it must exist (no built-in guest names).
/// `empty`: the reason an empty file is refused (guests::open's own is about guest code, and an
/// empty initrd would only fail later, inside the guest, as "no init found").
fn open_file(path: &str, what: &str, empty: &str) -> Result<Opened, Error> {
    let meta = std::fs::metadata(path)
        .map_err(|e| image_error(path, format!("cannot be opened as the {what}: {e}")))?;
    if meta.is_file() && meta.len() == 0 {
        return Err(image_error(path, format!("is empty: {empty}")));
    }
    guests::open(path).map_err(Error::Image)
}

/// The command line the kernel gets.
pub fn cmdline(opts: &Config) -> &str {
    opts.cmdline.as_deref().unwrap_or(linux::DEFAULT_CMDLINE)
}

/// A Linux boot whose sizes and header passed every check: the plan, and the two files opened
/// with only their first bytes read.
pub struct CheckedLinux {
    boot: linux::LinuxBoot,
    kernel: Opened,
    /// The `--initrd` argument (the module's name) and the file.
    initrd: Option<(String, Opened)>,
}

/// Checks everything that can be checked from the setup header and the files' sizes; reads
/// nothing else.
pub fn check_linux(opts: &Config) -> Result<CheckedLinux, Error> {
    let path = opts.linux.as_deref().unwrap_or_default();
    let kernel = open_file(
        path,
        "kernel (bzImage)",
        &format!("a Linux bzImage starts with its setup header; {GIVE_A_BZIMAGE}"),
    )?;
    let header = read_header(path, &kernel)?;
    let initrd = match &opts.initrd {
        Some(p) => Some((
            p.clone(),
            open_file(
                p,
                "initrd",
                "an initrd must be a non-empty cpio archive (the initramfs format)",
            )?,
        )),
        None => None,
    };
    let boot = plan_boot(opts, header, &kernel, initrd.as_ref().map(|(_, i)| i))?;
    Ok(CheckedLinux {
        boot,
        kernel,
        initrd,
    })
}

impl CheckedLinux {
    /// Reads the kernel and the initrd (as the one module), now that their sizes are known to
    /// fit.
    pub fn read(self, signals: &StopSignals) -> Result<(Plan, Vec<Image>, Vec<Module>), Error> {
        let (image, modules) = read_files(self.kernel, self.initrd, signals)?;
        Ok((Plan::Linux(self.boot), vec![image], modules))
    }
}

/// The bzImage's setup header, parsed from the first bytes only and checked against the file's
/// size; with `-v` its fields are printed, since they decide everything that follows.
fn read_header(path: &str, kernel: &Opened) -> Result<linux::SetupHeader, Error> {
    let header = linux::parse_header(kernel.head(), kernel.len())
        .map_err(|why| image_error(path, why.to_string()))?;
    crate::log::note(|| {
        format!(
            "{path}: bzImage, boot protocol {}, {} setup sectors, loadflags {:#04x}, xloadflags \
             {:#x}, cmdline_size {}, initrd_addr_max {:#x}, kernel_alignment {:#x}, init_size \
             {:#x}",
            header.version_text(),
            header.setup_sects,
            header.loadflags,
            header.xloadflags,
            header.cmdline_size,
            header.initrd_addr_max,
            header.kernel_alignment,
            header.init_size
        )
    });
    Ok(header)
}

/// Where everything goes, from sizes alone: `--mem`, the command line, the kernel and the
/// initrd against the header's limits. A problem is blamed on the option or file it comes from.
fn plan_boot(
    opts: &Config,
    header: linux::SetupHeader,
    kernel: &Opened,
    initrd: Option<&Opened>,
) -> Result<linux::LinuxBoot, Error> {
    let ram = opts.mem.unwrap_or(DEFAULT_LINUX_RAM);
    // The zero page's E820 map describes one range of RAM from 0: what is above the 3 GiB hole
    // (Multiboot kernels get it) is not offered to Linux.
    if ram > crate::boot::LOW_RAM_END {
        return Err(Error::Usage(format!(
            "--linux takes --mem up to 3G (its E820 map has no RAM above the 3 GiB hole), not {} MiB",
            ram >> 20
        )));
    }
    let path = opts.linux.as_deref().unwrap_or_default();
    let boot = linux::plan(
        header,
        kernel.len(),
        ram,
        cmdline(opts).len(),
        initrd.map(|i| i.len()),
    )
    .map_err(|problem| match problem {
        PlanProblem::Cmdline(why) => Error::Usage(why),
        PlanProblem::Kernel(why) => image_error(path, why),
        PlanProblem::Initrd(why) => image_error(opts.initrd.as_deref().unwrap_or(""), why),
    })?;
    Ok(linux::LinuxBoot {
        entry32: opts.linux_entry32,
        ..boot
    })
}

/// Reads the kernel and the initrd, now that their sizes are known to fit. Both reads watch
/// for a stop request (a large initrd takes a while), and the first one seen wins.
fn read_files(
    kernel: Opened,
    initrd: Option<(String, Opened)>,
    signals: &StopSignals,
) -> Result<(Image, Vec<Module>), Error> {
    let stopped = std::cell::Cell::new(None);
    let interrupted = || {
        if stopped.get().is_none() {
            stopped.set(signals.check());
        }
        stopped.get().is_some()
    };
    let image = kernel.read(&interrupted)?;
    let mut modules = Vec::new();
    if let Some((name, initrd)) = initrd {
        if let Some(read) = initrd.read(&interrupted)? {
            modules.push(Module {
                name,
                bytes: read.bytes.into_owned(),
            });
        }
    }
    if let Some(cause) = stopped.get() {
        return Err(Error::Stopped(cause));
    }
    let image = image.ok_or_else(|| Error::Host("reading the kernel was interrupted".into()))?;
    Ok((image, modules))
}
