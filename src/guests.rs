//! Guest images, and the guests built into mini-kvm: build.rs assembles guests/*.asm and builds
//! the 1K OS, and the binary embeds them. (Guest files are opened, checked and read by
//! boot/files.rs.)

use crate::error::Ending;
use std::borrow::Cow;

/// How a built-in guest boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A flat 16-bit binary (boot/realmode.rs).
    Real,
    /// A flat 64-bit binary (boot/longmode.rs).
    Long,
    /// A Multiboot kernel (boot/multiboot.rs).
    Kernel,
}

/// A guest built into the binary.
pub struct Embedded {
    pub name: &'static str,
    pub description: &'static str,
    pub kind: Kind,
    pub bytes: &'static [u8],
}

// The generated table: `pub static EMBEDDED: &[Embedded]`, the probes and the symbol files.
include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// A guest image, read.
pub struct Image {
    /// For messages: the file's name without its extension, or the built-in guest's.
    pub name: String,
    /// The file it came from (`None`: built in).
    pub path: Option<String>,
    pub bytes: Cow<'static, [u8]>,
}

impl Image {
    /// The image cannot be used: `reason`, with its path (or name).
    pub fn error(&self, reason: impl std::fmt::Display) -> Ending {
        let path = self.path.clone().unwrap_or_else(|| self.name.clone());
        Ending::Image { path, reason: reason.to_string() }
    }

    /// `Err` unless the image is at most `limit` bytes, naming `what` the limit is.
    pub fn fits(&self, limit: u64, what: &str) -> Result<(), Ending> {
        let len = self.bytes.len() as u64;
        match len <= limit {
            true => Ok(()),
            false => Err(self.error(format!("is {len} bytes, larger than {what}"))),
        }
    }
}

/// The built-in guest `name`, unless a file of that name exists: a file always wins.
pub fn builtin(name: &str) -> Option<&'static Embedded> {
    let file = std::fs::metadata(name).is_ok_and(|m| !m.is_dir());
    EMBEDDED.iter().find(|g| g.name == name && !file)
}

impl Embedded {
    pub fn image(&'static self) -> Image {
        Image { name: self.name.into(), path: None, bytes: Cow::Borrowed(self.bytes) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_guests_have_names_descriptions_and_code() {
        assert!(EMBEDDED.len() >= 10);
        for g in EMBEDDED {
            assert!(!g.name.is_empty() && !g.description.is_empty(), "{}", g.name);
            assert!(!g.bytes.is_empty(), "{}", g.name);
            assert_eq!(EMBEDDED.iter().filter(|o| o.name == g.name).count(), 1, "{}", g.name);
        }
        let minimal = EMBEDDED.iter().find(|g| g.name == "minimal").expect("minimal is built in");
        assert_eq!((minimal.bytes, minimal.kind), (&[0xF4u8][..], Kind::Real), "one hlt byte");
        let os = EMBEDDED.iter().find(|g| g.name == "os-1k").expect("the 1K OS is built in");
        assert_eq!(os.kind, Kind::Kernel);
    }

    #[test]
    fn an_image_too_large_says_its_size_and_the_limit() {
        let image = Image {
            name: "big".into(),
            path: Some("/tmp/big.bin".into()),
            bytes: Cow::Owned(vec![0; 100]),
        };
        assert!(image.fits(100, "x").is_ok());
        match image.fits(99, "the 99 bytes of a slot") {
            Err(Ending::Image { path, reason }) => {
                assert_eq!(
                    (path.as_str(), reason.as_str()),
                    ("/tmp/big.bin", "is 100 bytes, larger than the 99 bytes of a slot")
                )
            }
            other => panic!("{other:?}"),
        }
        let builtin = EMBEDDED[0].image();
        match builtin.error("broken") {
            Ending::Image { path, .. } => {
                assert_eq!(path, EMBEDDED[0].name, "a built-in guest is named")
            }
            other => panic!("{other:?}"),
        }
    }
}
