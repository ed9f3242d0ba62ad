//! Reading the guest files of a run: every size checked against what the run can hold before
//! a byte is read (a 2 GiB module is refused from its metadata, not after reading it), and the
//! reading itself in pieces between which a stop request (signal, --timeout) is noticed.

use super::control::StopSignals;
use super::Config;
use crate::boot::multiboot::Module;
use crate::boot::{self, longmode, paging32, realmode, Mode};
use crate::error::Error;
use crate::guests::{self, Image, ImageError, Opened};

/// The most bytes an image may have in this run, and that limit in words for the message.
fn image_limit(opts: &Config, kernel: bool) -> (u64, String) {
    if kernel {
        let mem = opts.mem.unwrap_or(boot::DEFAULT_KERNEL_RAM);
        let whence = if opts.mem.is_some() {
            "--mem"
        } else {
            "the default; see --mem"
        };
        let low = boot::low_ram(mem);
        let what = if low < mem {
            format!("the {low} bytes of guest RAM below 4 GiB, where a Multiboot kernel loads")
        } else {
            format!("the {mem} bytes of guest RAM a Multiboot kernel gets ({whence})")
        };
        return (low, what);
    }
    match opts.mode {
        Mode::Long => (
            longmode::MAX_IMAGE,
            format!(
                "the {} bytes a 64-bit (--long-mode) guest can have",
                longmode::MAX_IMAGE
            ),
        ),
        Mode::Paging { .. } => (
            paging32::MEMORY_SIZE,
            format!(
                "the {} bytes of memory a --paging guest gets",
                paging32::MEMORY_SIZE
            ),
        ),
        Mode::Auto => (
            realmode::SLOT_SIZE,
            format!(
                "the {} bytes of a real-mode guest's slot (a flat binary; a Multiboot kernel \
                 would be recognised from its header)",
                realmode::SLOT_SIZE
            ),
        ),
    }
}

/// Does an image's start say "kernel" (a Multiboot header, even a broken one, or ELF)?
fn looks_like_kernel(head: &[u8]) -> bool {
    !matches!(boot::multiboot::find_header(head), Ok(None)) || boot::elf::is_elf(head)
}

/// A kernel, its command line and its modules must fit together in guest RAM below the 4 GiB
/// hole, whatever --mem says (where a Multiboot kernel loads them): checked from the sizes,
/// before anything is read.
fn check_kernel_total(opts: &Config, opened: &[Opened], modules: &[Opened]) -> Result<(), Error> {
    // Kernel and modules are loaded below the 4 GiB hole, whatever --mem says.
    let mem = boot::low_ram(opts.mem.unwrap_or(boot::DEFAULT_KERNEL_RAM));
    let cmdline = opts.cmdline.as_deref().map_or(0, |c| c.len() as u64);
    let mut total = opened.iter().map(|o| o.len()).sum::<u64>() + cmdline;
    for m in modules {
        total = total.saturating_add(m.len());
        if total > mem {
            return Err(Error::Image(ImageError {
                path: m.arg().to_string(),
                reason: format!(
                    "is {} bytes: with the kernel, the command line and the modules before \
                     it that makes {total} bytes, more than the {mem} bytes of guest RAM \
                     (see --mem)",
                    m.len()
                ),
            }));
        }
    }
    Ok(())
}

/// Resolves the GUEST arguments and the modules into images: every size is checked first (from
/// the files' metadata: each against its mode's limit, then kernel, modules and command line
/// together against guest RAM), and only then is anything read, in pieces between which a
/// stop request is noticed.
pub(super) fn read_images(
    opts: &Config,
    signals: &StopSignals,
) -> Result<(Vec<Image>, Vec<Module>), Error> {
    let opened = opts
        .guests
        .iter()
        .map(|g| guests::open(g))
        .collect::<Result<Vec<_>, _>>()?;
    let kernel = opened.iter().any(|o| looks_like_kernel(o.head()));
    if !kernel && (!opts.modules.is_empty() || opts.cmdline.is_some()) {
        return Err(Error::Usage(
            "--cmdline and --module are for Multiboot kernels; flat guests get neither".into(),
        ));
    }
    for o in &opened {
        let (limit, what) = image_limit(opts, looks_like_kernel(o.head()));
        if o.len() > limit {
            return Err(Error::Image(ImageError {
                path: o.arg().to_string(),
                reason: format!("is {} bytes, larger than {what}", o.len()),
            }));
        }
    }
    let modules = opts
        .modules
        .iter()
        .map(|m| guests::open(m))
        .collect::<Result<Vec<_>, _>>()?;
    if kernel {
        check_kernel_total(opts, &opened, &modules)?;
    }
    let stopped = std::cell::Cell::new(None);
    let interrupted = || {
        if stopped.get().is_none() {
            stopped.set(signals.check());
        }
        stopped.get().is_some()
    };
    let mut images = Vec::with_capacity(opened.len());
    for o in opened {
        match o.read(&interrupted)? {
            Some(image) => images.push(image),
            None => break,
        }
    }
    let mut loaded = Vec::with_capacity(modules.len());
    for m in modules {
        if stopped.get().is_some() {
            break;
        }
        let name = m.arg().to_string();
        if let Some(image) = m.read(&interrupted)? {
            loaded.push(Module {
                name,
                bytes: image.bytes.into_owned(),
            });
        }
    }
    if let Some(cause) = stopped.get() {
        return Err(Error::Stopped(cause));
    }
    Ok((images, loaded))
}
