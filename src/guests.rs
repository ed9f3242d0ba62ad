//! The guests built into the binary, and how a command-line argument becomes a guest image.
//!
//! build.rs assembles `guests/*.asm` and generates the [`EMBEDDED`] table, so `mini-kvm hello`
//! works from any directory. An argument that names an existing file runs that file instead.
//! Files are checked before anything is read into memory: not a regular file (a directory, a
//! FIFO that would block, a device), empty, or larger than the guest's memory are all refused
//! with the file's name and the limit.

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
    /// Where it came from: "embedded" or the path given.
    pub origin: String,
    pub bytes: Cow<'static, [u8]>,
    /// The mode an embedded guest declares; files get `None` (decided by options/contents).
    pub mode: Option<GuestMode>,
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

/// Resolves one GUEST argument: an existing path is read (at most `limit` bytes are accepted),
/// otherwise the embedded guest of that name.
pub fn resolve(arg: &str, limit: u64) -> Result<Image, ImageError> {
    let path = Path::new(arg);
    let err = |reason: String| ImageError {
        path: arg.to_string(),
        reason,
    };
    match std::fs::metadata(path) {
        // A directory is not a file: `mini-kvm os-1k` in the source tree (which has an os-1k/
        // directory) still means the built-in guest.
        Ok(meta) if meta.is_dir() && find_embedded(arg).is_some() => embedded(arg, limit),
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
            if meta.len() > limit {
                return Err(err(format!(
                    "is {} bytes, larger than the {} bytes of memory it would be loaded into",
                    meta.len(),
                    limit
                )));
            }
            let mut bytes = Vec::with_capacity(meta.len() as usize);
            std::fs::File::open(path)
                .and_then(|f| f.take(limit + 1).read_to_end(&mut bytes))
                .map_err(|e| err(format!("cannot be read: {e}")))?;
            if bytes.is_empty() || bytes.len() as u64 > limit {
                return Err(err("changed size while being read".into()));
            }
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| arg.to_string());
            Ok(Image {
                name,
                origin: arg.to_string(),
                bytes: Cow::Owned(bytes),
                mode: None,
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => embedded(arg, limit),
        Err(e) => Err(err(format!("cannot be opened: {e}"))),
    }
}

/// The built-in guest called `name`.
fn embedded(name: &str, limit: u64) -> Result<Image, ImageError> {
    let err = |reason: String| ImageError {
        path: name.to_string(),
        reason,
    };
    match find_embedded(name) {
        Some(g) if g.bytes.len() as u64 > limit => {
            Err(err(format!("is larger than its {limit} bytes of memory")))
        }
        Some(g) => Ok(Image {
            name: g.name.to_string(),
            origin: "embedded".to_string(),
            bytes: Cow::Borrowed(g.bytes),
            mode: Some(g.mode),
        }),
        None => Err(err(
            "no such file, and no embedded guest of that name (see mini-kvm --list)".into(),
        )),
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
