//! The guests built into the binary, and how a command-line argument becomes a guest image.
//!
//! build.rs assembles `guests/*.asm` and generates the [`EMBEDDED`] table, so `mini-kvm hello`
//! works from any directory. The images sit in a section of their own (build.rs `embed`): kept
//! out of `.rodata`, they do not spread the constants a run reads over more pages
//! (bench/README.md, "What a process's RSS is made of"). An argument that names an existing file runs that file instead.
//! Files are checked before anything is read into memory: not a regular file (a directory, a
//! FIFO that would block, a device) or empty is refused at once; then only the first 8 KiB are
//! read, enough to tell a kernel from a flat binary and so to know the size limit that applies,
//! which the caller checks (from the file's metadata) before the rest is read, in pieces that
//! a stop request can interrupt.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

/// The CPU mode a guest is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GuestMode {
    /// 16-bit real mode, loaded at offset 0 of its slot (the seed's guests).
    Real,
    /// 64-bit long mode with identity paging (`--long-mode`).
    Long,
    /// A Multiboot kernel (recognised from its contents anyway).
    Kernel,
}

/// A guest assembled by build.rs.
pub struct EmbeddedGuest {
    pub name: &'static str,
    pub description: &'static str,
    pub mode: GuestMode,
    pub bytes: &'static [u8],
}

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// A guest image ready to load.
#[derive(Debug)]
pub struct Image {
    /// The short name used in messages and `-v` output ("hello", or a file's stem).
    pub name: String,
    pub origin: Origin,
    pub bytes: Cow<'static, [u8]>,
    /// The mode an embedded guest declares; files get `None` (decided by options/contents).
    pub mode: Option<GuestMode>,
}

/// Where an image came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// Built into mini-kvm ([`EMBEDDED`]).
    Embedded,
    /// A file: the path as given.
    File(String),
    /// One of `--host-check`'s probe guests (hostcheck/probe.rs).
    Probe,
}

/// As `-v` and messages show it: `embedded`, the path, or `probe`.
impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Embedded => f.write_str("embedded"),
            Origin::File(path) => f.write_str(path),
            Origin::Probe => f.write_str("probe"),
        }
    }
}

/// Why an image cannot be used (exit status 3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageError {
    pub path: String,
    pub reason: String,
}

impl std::fmt::Display for ImageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.reason)
    }
}

pub fn find_embedded(name: &str) -> Option<&'static EmbeddedGuest> {
    EMBEDDED.iter().find(|g| g.name == name)
}

/// How many bytes of a file are read first, to tell a kernel from a flat binary: the
/// Multiboot header must lie within the first 8 KiB.
pub const HEAD_SIZE: u64 = 8192;

/// Files are read in pieces this big, so a stop request is seen within one piece.
const READ_CHUNK: usize = 1 << 20;

/// A GUEST or module argument resolved but not read yet: its size is known and checked, only
/// its first [`HEAD_SIZE`] bytes are in memory.
pub enum Opened {
    Embedded(&'static EmbeddedGuest),
    File {
        arg: String,
        file: std::fs::File,
        len: u64,
        head: Vec<u8>,
    },
}

impl Opened {
    /// The size of the image in bytes.
    pub fn len(&self) -> u64 {
        match self {
            Opened::Embedded(g) => g.bytes.len() as u64,
            Opened::File { len, .. } => *len,
        }
    }

    /// The first bytes (all of them for a built-in guest).
    pub fn head(&self) -> &[u8] {
        match self {
            Opened::Embedded(g) => g.bytes,
            Opened::File { head, .. } => head,
        }
    }

    /// The name to show in messages: the path given, or the built-in guest's name.
    pub fn arg(&self) -> &str {
        match self {
            Opened::Embedded(g) => g.name,
            Opened::File { arg, .. } => arg,
        }
    }

    /// Reads the rest of the image. `interrupted` is asked between pieces; when it says stop,
    /// reading ends with `Ok(None)`.
    pub fn read(self, interrupted: &dyn Fn() -> bool) -> Result<Option<Image>, ImageError> {
        let (arg, mut file, len, head) = match self {
            Opened::Embedded(g) => {
                return Ok(Some(Image {
                    name: g.name.to_string(),
                    origin: Origin::Embedded,
                    bytes: Cow::Borrowed(g.bytes),
                    mode: Some(g.mode),
                }))
            }
            Opened::File {
                arg,
                file,
                len,
                head,
            } => (arg, file, len, head),
        };
        let err = |reason: String| ImageError {
            path: arg.clone(),
            reason,
        };
        // The size was checked against its limit before this allocation.
        let total = usize::try_from(len).map_err(|_| err("is too large for this host".into()))?;
        let mut bytes = head;
        // A size within the limits can still be more than this host can give: say so rather
        // than abort on a failed allocation.
        bytes.try_reserve_exact(total - bytes.len()).map_err(|_| {
            err(format!(
                "needs {total} bytes of host memory to be loaded, more than this host can \
                 allocate now"
            ))
        })?;
        let mut buf = vec![0u8; READ_CHUNK.min(total)];
        while bytes.len() < total {
            if interrupted() {
                return Ok(None);
            }
            let want = (total - bytes.len()).min(buf.len());
            match file.read(&mut buf[..want]) {
                Ok(0) => return Err(err("changed size while being read (it shrank)".into())),
                Ok(n) => bytes.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(err(format!("cannot be read: {e}"))),
            }
        }
        let path = Path::new(&arg);
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| arg.clone());
        Ok(Some(Image {
            name,
            origin: Origin::File(arg),
            bytes: Cow::Owned(bytes),
            mode: None,
        }))
    }
}

/// Resolves one GUEST (or module) argument: an existing path is checked (a regular file, not
/// empty) and its first bytes read; otherwise it names a built-in guest. Nothing else is read
/// until the caller has checked the size against the limit that applies ([`Opened::read`]).
pub fn open(arg: &str) -> Result<Opened, ImageError> {
    let path = Path::new(arg);
    let err = |reason: String| ImageError {
        path: arg.to_string(),
        reason,
    };
    match std::fs::metadata(path) {
        // A directory is not a file: `mini-kvm os-1k` in the source tree (which has an os-1k/
        // directory) still means the built-in guest.
        Ok(meta) if meta.is_dir() && find_embedded(arg).is_some() => embedded(arg),
        Ok(meta) => {
            if meta.is_dir() {
                return Err(err("is a directory, not a guest image".into()));
            }
            if !meta.is_file() {
                return Err(err(
                    "is not a regular file (a device, FIFO or socket cannot be a guest image)"
                        .into(),
                ));
            }
            if meta.len() == 0 {
                return Err(err(
                    "is empty: a guest needs at least one instruction".into()
                ));
            }
            let mut file =
                std::fs::File::open(path).map_err(|e| err(format!("cannot be opened: {e}")))?;
            let mut head = Vec::with_capacity(HEAD_SIZE as usize);
            (&mut file)
                .take(HEAD_SIZE.min(meta.len()))
                .read_to_end(&mut head)
                .map_err(|e| err(format!("cannot be read: {e}")))?;
            if (head.len() as u64) < HEAD_SIZE.min(meta.len()) {
                return Err(err("changed size while being read (it shrank)".into()));
            }
            Ok(Opened::File {
                arg: arg.to_string(),
                file,
                len: meta.len(),
                head,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => embedded(arg),
        Err(e) => Err(err(format!("cannot be opened: {e}"))),
    }
}

/// Opens and reads a whole image of at most `limit` bytes (tests, and callers with one limit).
#[cfg(test)]
pub fn resolve(arg: &str, limit: u64) -> Result<Image, ImageError> {
    let opened = open(arg)?;
    if opened.len() > limit {
        return Err(ImageError {
            path: arg.to_string(),
            reason: format!(
                "is {} bytes, larger than the {limit} bytes of memory it would be loaded into",
                opened.len()
            ),
        });
    }
    Ok(opened.read(&|| false)?.expect("never interrupted"))
}

/// The built-in guest called `name`.
fn embedded(name: &str) -> Result<Opened, ImageError> {
    match find_embedded(name) {
        Some(g) => Ok(Opened::Embedded(g)),
        None => Err(ImageError {
            path: name.to_string(),
            reason: "no such file, and no embedded guest of that name (see mini-kvm --list)".into(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_guests_have_names_descriptions_and_code() {
        assert!(!EMBEDDED.is_empty());
        for g in EMBEDDED {
            assert!(
                !g.name.is_empty() && !g.description.is_empty(),
                "{}",
                g.name
            );
            assert!(!g.bytes.is_empty(), "{}", g.name);
        }
        assert_eq!(
            find_embedded("minimal").map(|g| g.bytes),
            Some(&[0xF4u8][..])
        );
    }

    #[test]
    fn bad_files_are_refused_with_the_reason() {
        let dir = std::env::temp_dir().join(format!("mini-kvm-guests-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let empty = dir.join("empty.bin");
        std::fs::write(&empty, b"").unwrap();
        let big = dir.join("big.bin");
        std::fs::write(&big, vec![0x90; 100]).unwrap();
        let ok = dir.join("ok.bin");
        std::fs::write(&ok, [0xF4]).unwrap();

        let reason = |p: &Path, limit| resolve(p.to_str().unwrap(), limit).unwrap_err().reason;
        assert!(reason(&dir, 10).contains("directory"));
        assert!(reason(&empty, 10).contains("empty"));
        assert!(reason(&big, 99).contains("larger than the 99 bytes"));
        assert!(reason(Path::new("/dev/null"), 10).contains("not a regular file"));
        assert!(reason(&dir.join("nope"), 10).contains("no such file"));
        let image = resolve(ok.to_str().unwrap(), 10).unwrap();
        assert_eq!(
            (image.name.as_str(), &image.bytes[..]),
            ("ok", &[0xF4u8][..])
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
