//! The disk image behind the virtio-blk device: `--disk FILE[,ro]`, opened and checked before
//! the VM starts.
//!
//! A disk is a regular file whose size is a whole number of 512-byte sectors, or a block device
//! (its size is the device's, from lseek(2) to its end: st_size is 0 for a device). It is
//! locked with flock(2) for the run, exclusively, or shared for `,ro`, so two mini-kvms never
//! write one image; the lock goes with the file descriptor when mini-kvm exits, however it
//! exits. Anything else is refused with one line and status 3: a directory, a FIFO, a file that
//! cannot be opened or read, a partial last sector, an image another mini-kvm holds.
//!
//! The built-in 1K OS always gets a disk. build.rs embeds the image its file system starts as
//! ([`OS_1K_DISK`], without the zeros it ends with; [`OS_1K_DISK_LEN`] bytes with them: 4 MiB,
//! os-1k/fs.h). `--disk FILE` for os-1k creates a missing FILE from it (written aside, then
//! linked into place, so that no reader ever sees half an image) and checks an existing one's
//! format version ([`check_format`]); without `--disk` the OS gets a copy in memory
//! (backend.rs).

use super::backend::{Backend, Image};
use super::blk::SECTOR_SIZE;
use crate::error::Ending;
use crate::guests::{OS_1K_DISK, OS_1K_DISK_LEN};
use nix::fcntl::FlockArg;
use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};

/// The 1K OS file system's superblock as os-1k/fs.h lays it out in sector 0: the magic at
/// offset 0 and the format version at offset 4, both little-endian u32.
pub const FS_MAGIC_OFFSET: usize = 0;
pub const FS_VERSION_OFFSET: usize = 4;
/// "1KFS" (fs.h FS_MAGIC).
pub const FS_MAGIC: u32 = 0x5346_4B31;
/// The layout this mini-kvm's 1K OS reads (fs.h FS_VERSION).
pub const FS_VERSION: u32 = 1;

/// `--disk FILE` or `--disk FILE,ro` (a file name cannot end in a comma and a word).
pub fn parse(value: &str) -> Result<(&str, bool), Ending> {
    let (path, read_only) = match value.rsplit_once(',') {
        Some((path, "ro")) => (path, true),
        Some((_, other)) => {
            return Err(Ending::Usage(format!(
                "--disk takes FILE or FILE,ro, not ',{other}' after the file name"
            )))
        }
        None => (value, false),
    };
    if path.is_empty() {
        return Err(Ending::Usage("--disk needs a file name (FILE or FILE,ro)".into()));
    }
    Ok((path, read_only))
}

/// Opens and checks `path` (`os_1k`: the built-in 1K OS's disk, created if missing and
/// checked for its format). Every refusal is status 3 with the reason.
pub fn open(path: &str, read_only: bool, os_1k: bool) -> Result<Image, Ending> {
    let err = |reason: String| Ending::Image { path: format!("{path} (--disk)"), reason };
    let mut created = false;
    let file = match open_file(path, read_only) {
        Err(e) if e.kind() == io::ErrorKind::NotFound && os_1k && !read_only => {
            create(path)
                .map_err(|e| err(format!("does not exist and could not be created: {e}")))?;
            created = true;
            open_file(path, read_only)
        }
        other => other,
    };
    let file = file.map_err(|e| err(open_error(&e, read_only)))?;
    let meta = file.metadata().map_err(|e| err(format!("cannot be examined: {e}")))?;
    let kind = meta.file_type();
    let what = match kind {
        _ if kind.is_file() || kind.is_block_device() => None,
        _ if kind.is_dir() => Some("is a directory"),
        _ if kind.is_fifo() => Some("is a FIFO"),
        _ => Some("is a socket or a character device"),
    };
    if let Some(what) = what {
        return Err(err(format!("{what}; --disk takes an image file or a block device")));
    }
    let mut file = lock(file, read_only).map_err(err)?;
    let len = match kind.is_block_device() {
        true => file.seek(SeekFrom::End(0)).map_err(|e| err(format!("has no size: {e}")))?,
        false => meta.len(),
    };
    if len % SECTOR_SIZE != 0 {
        return Err(err(format!("is {len} bytes, not a whole number of {SECTOR_SIZE}-byte sectors (a disk's size must be a multiple of {SECTOR_SIZE})")));
    }
    let mut head = vec![0u8; len.min(SECTOR_SIZE) as usize];
    file.read_exact_at(&mut head, 0).map_err(|e| err(format!("cannot be read: {e}")))?;
    if os_1k {
        check_format(&head).map_err(err)?;
    }
    let id = std::path::Path::new(path).file_name().map(|n| n.to_string_lossy().into_owned());
    let (name, id) = (path.to_string(), id.unwrap_or_default());
    Ok(Image { backend: Backend::File(file), len, read_only, name, id, created })
}

/// open(2) read-write (read-only for `,ro`), never blocking: a FIFO is refused, not waited on.
fn open_file(path: &str, read_only: bool) -> io::Result<File> {
    OpenOptions::new().read(true).write(!read_only).custom_flags(libc::O_NONBLOCK).open(path)
}

/// Why the file cannot be opened, with the fix where there is one.
fn open_error(e: &io::Error, read_only: bool) -> String {
    match e.raw_os_error() {
        Some(libc::ENOENT) => "does not exist".into(),
        Some(libc::EISDIR) => "is a directory; --disk takes an image file or a block device".into(),
        Some(libc::EACCES | libc::EPERM | libc::EROFS) if !read_only => {
            format!(
                "cannot be opened for reading and writing: {e} (a read-only disk: --disk FILE,ro)"
            )
        }
        _ => format!("cannot be opened: {e}"),
    }
}

/// flock(2) without waiting: exclusive for a disk mini-kvm writes, shared for `,ro`.
fn lock(file: File, read_only: bool) -> Result<File, String> {
    let how =
        if read_only { FlockArg::LockSharedNonblock } else { FlockArg::LockExclusiveNonblock };
    // nix's Flock would unlock in its drop, a system call the seccomp filter does not allow;
    // closing the file releases the lock anyway.
    #[allow(deprecated)]
    match nix::fcntl::flock(file.as_raw_fd(), how) {
        Ok(()) => Ok(file),
        Err(nix::errno::Errno::EWOULDBLOCK) => Err(format!(
            "is in use by another mini-kvm (it holds a flock on it): stop that one first{}",
            if read_only { " (two runs may share a disk only if both give ,ro)" } else { "" }
        )),
        Err(e) => Err(format!("cannot be locked: {e}")),
    }
}

/// A new disk image at `path` from the built-in 1K OS image: written to a file beside it,
/// then linked to `path` (link(2) never replaces a file: if another mini-kvm created `path`
/// meanwhile, that one is used).
fn create(path: &str) -> io::Result<()> {
    let aside = format!("{path}.new-{}", std::process::id());
    let written = (|| {
        let file = OpenOptions::new().write(true).create_new(true).open(&aside)?;
        file.write_all_at(OS_1K_DISK, 0)?;
        file.set_len(OS_1K_DISK_LEN)?; // the zeros after the embedded bytes: a sparse file
        file.sync_all()
    })();
    let linked = written.and_then(|()| match std::fs::hard_link(&aside, path) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    });
    let _ = std::fs::remove_file(&aside);
    linked
}

/// The first sector of an existing 1K OS disk: the magic and the format version its file
/// system has (os-1k/fs.h), which must be the ones this mini-kvm's 1K OS reads.
pub fn check_format(head: &[u8]) -> Result<(), String> {
    let word = |at: usize| {
        let b = head.get(at..at + 4)?;
        Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let fix = "move it away and mini-kvm creates a new one";
    match (word(FS_MAGIC_OFFSET), word(FS_VERSION_OFFSET)) {
        (Some(FS_MAGIC), Some(FS_VERSION)) => Ok(()),
        (Some(FS_MAGIC), Some(v)) => Err(format!(
            "is a 1K OS disk of format version {v}; this mini-kvm's 1K OS reads version {FS_VERSION} ({fix})"
        )),
        _ => Err(format!(
            "is not a 1K OS disk (no \"1KFS\" magic at offset {FS_MAGIC_OFFSET}; {fix})"
        )),
    }
}

#[cfg(test)]
mod tests;
