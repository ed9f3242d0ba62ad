//! A disk's bytes, wherever they are: an image file (pread, pwrite, fdatasync: the calls the
//! disk thread may make under the seccomp filter) or memory (the built-in 1K OS's disk when no
//! `--disk` is given, copied at its first write, whose writes last for the run). Opening and
//! checking a file is image.rs's.

use super::blk::DiskBackend;
use crate::guests::{OS_1K_DISK, OS_1K_DISK_LEN};
use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

/// Where the disk's bytes are: an image file (pread, pwrite, fdatasync), or memory.
pub enum Backend {
    File(File),
    /// An image of `len` bytes that starts with `bytes` (zeros after them); the built-in
    /// image is copied, whole, at the first write.
    Memory {
        bytes: Cow<'static, [u8]>,
        len: u64,
    },
}

impl DiskBackend for Backend {
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> io::Result<()> {
        match self {
            Backend::File(f) => f.read_exact_at(buf, offset),
            Backend::Memory { bytes, len } => {
                let at = range(*len, offset, buf.len())?;
                let have = bytes.get(at.min(bytes.len())..).unwrap_or_default();
                let n = have.len().min(buf.len());
                buf[..n].copy_from_slice(&have[..n]);
                buf[n..].fill(0);
                Ok(())
            }
        }
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> io::Result<()> {
        match self {
            Backend::File(f) => f.write_all_at(data, offset),
            Backend::Memory { bytes, len } => {
                let at = range(*len, offset, data.len())?;
                let copy = bytes.to_mut();
                copy.resize(*len as usize, 0); // `len` is a disk's size: it fits in memory
                copy[at..at + data.len()].copy_from_slice(data);
                Ok(())
            }
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Backend::File(f) => f.sync_data(),
            Backend::Memory { .. } => Ok(()),
        }
    }
}

/// `offset..offset+len` inside `size` bytes, as an index.
fn range(size: u64, offset: u64, len: usize) -> io::Result<usize> {
    let end = offset.checked_add(len as u64);
    match usize::try_from(offset) {
        Ok(at) if end.is_some_and(|e| e <= size) => Ok(at),
        _ => Err(io::Error::from(io::ErrorKind::UnexpectedEof)),
    }
}

/// A disk ready for the device.
pub struct Image {
    pub backend: Backend,
    /// Bytes, a multiple of 512 (the sector size).
    pub len: u64,
    pub read_only: bool,
    /// For messages: the file as given, or what the in-memory disk is.
    pub name: String,
    /// The device's ID string (GET_ID): the file's name, or "os-1k".
    pub id: String,
    /// What -v says about how it was found ("created from ...").
    pub created: bool,
}

/// The built-in 1K OS disk in memory (no `--disk`).
pub fn in_memory() -> Image {
    Image {
        backend: Backend::Memory { bytes: Cow::Borrowed(OS_1K_DISK), len: OS_1K_DISK_LEN },
        len: OS_1K_DISK_LEN,
        read_only: false,
        name: "an in-memory copy of the built-in 1K OS disk".into(),
        id: "os-1k".into(),
        created: false,
    }
}

#[cfg(test)]
mod tests;
