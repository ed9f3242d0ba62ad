//! Guest files: found, checked (a regular file, not empty, and later its size against what the
//! boot protocol allows) before a byte is read, and read in chunks between which a stop request
//! is honoured. A name that is no file is a built-in guest's (guests.rs).

use crate::error::Ending;
use crate::guests::{Embedded, Image, Kind, EMBEDDED};
use crate::machine::Stops;
use std::borrow::Cow;
use std::io::Read;

/// A guest named on the command line, found but not yet read.
pub struct Opened {
    pub arg: String,
    /// The open file, its length, and its first [`HEAD_SIZE`] bytes; `None`: built in.
    pub file: Option<(std::fs::File, u64, Vec<u8>)>,
    pub embedded: Option<&'static Embedded>,
}

/// How much of a file is read to tell what it is (a Multiboot header lies in the first 8 KiB).
pub const HEAD_SIZE: u64 = 8192;

/// Finds `arg`: an existing file (checked: a regular file, not empty), else a built-in guest.
pub fn open(arg: &str) -> Result<Opened, Ending> {
    let err = |reason: &str| Ending::Image { path: arg.to_string(), reason: reason.to_string() };
    let embedded = || match EMBEDDED.iter().find(|g| g.name == arg) {
        Some(g) => Ok(Opened { arg: arg.to_string(), file: None, embedded: Some(g) }),
        None => Err(err("no such file, and no embedded guest of that name (see mini-kvm --list)")),
    };
    let meta = match std::fs::metadata(arg) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return embedded(),
        Err(e) => return Err(err(&format!("cannot be opened: {e}"))),
        Ok(meta) if meta.is_dir() && EMBEDDED.iter().any(|g| g.name == arg) => return embedded(),
        Ok(meta) => meta,
    };
    if meta.is_dir() {
        return Err(err("is a directory, not a guest image"));
    }
    if !meta.is_file() {
        return Err(err(
            "is not a regular file (a device, FIFO or socket cannot be a guest image)",
        ));
    }
    if meta.len() == 0 {
        return Err(err("is empty: a guest needs at least one instruction"));
    }
    let mut file = std::fs::File::open(arg).map_err(|e| err(&format!("cannot be opened: {e}")))?;
    let mut head = Vec::new();
    let want = HEAD_SIZE.min(meta.len());
    (&mut file)
        .take(want)
        .read_to_end(&mut head)
        .map_err(|e| err(&format!("cannot be read: {e}")))?;
    if (head.len() as u64) < want {
        return Err(err("changed size while being read (it shrank)"));
    }
    Ok(Opened { arg: arg.to_string(), file: Some((file, meta.len(), head)), embedded: None })
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
                !matches!(super::multiboot::find_header(head), Ok(None)) || super::elf::is_elf(head)
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
        let Some((mut file, len, mut bytes)) = self.file else {
            // open() gives a file or a built-in guest, never neither.
            let g = self.embedded.expect("a built-in guest");
            return Ok(g.image());
        };
        let arg = self.arg;
        let err = |reason: String| Ending::Image { path: arg.clone(), reason };
        let total = usize::try_from(len).map_err(|_| err("is too large for this host".into()))?;
        bytes.try_reserve_exact(total - bytes.len()).map_err(|_| {
            err(format!(
                "needs {total} bytes of host memory to be loaded, more than this host can allocate now"
            ))
        })?;
        let mut chunk = vec![0u8; (1 << 20).min(total)];
        while bytes.len() < total {
            stops.between_steps()?;
            let want = (total - bytes.len()).min(chunk.len());
            match file.read(&mut chunk[..want]) {
                Ok(0) => return Err(err("changed size while being read (it shrank)".into())),
                Ok(n) => bytes.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(err(format!("cannot be read: {e}"))),
            }
        }
        let stem = std::path::Path::new(&arg).file_stem().map(|s| s.to_string_lossy().into_owned());
        Ok(Image {
            name: stem.unwrap_or_else(|| arg.clone()),
            path: Some(arg),
            bytes: Cow::Owned(bytes),
            kind: None,
        })
    }
}
