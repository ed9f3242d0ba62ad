//! Guest files: found, checked (a regular file, not empty, and later its size against what the
//! boot protocol allows) before a byte is read, and read in chunks between which a stop request
//! is honoured. A name that is no file is a built-in guest's (guests.rs).

use super::{Opened, HEAD_SIZE};
use crate::error::Ending;
use crate::guests::{Image, EMBEDDED};
use crate::machine::Stops;
use std::borrow::Cow;
use std::io::Read;

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

/// Reads the rest of a file whose first bytes are `head`, in chunks between which a stop request
/// (a signal, `--timeout`) is honoured.
pub fn read(
    arg: String,
    mut file: std::fs::File,
    len: u64,
    mut bytes: Vec<u8>,
    stops: &Stops,
) -> Result<Image, Ending> {
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
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(arg: &str) -> String {
        match open(arg) {
            Err(Ending::Image { path, reason }) => {
                assert_eq!(path, arg);
                reason
            }
            Err(other) => panic!("{arg}: {other:?}"),
            Ok(_) => panic!("{arg}: opened"),
        }
    }

    #[test]
    fn bad_files_are_refused_before_a_byte_is_read_with_the_reason() {
        let dir = std::env::temp_dir().join(format!("mini-kvm-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let empty = dir.join("empty.bin");
        std::fs::write(&empty, b"").expect("a file");
        let path = |p: &std::path::Path| p.to_str().expect("a UTF-8 temporary path").to_string();
        assert_eq!(reason(&path(&dir)), "is a directory, not a guest image");
        assert_eq!(reason(&path(&empty)), "is empty: a guest needs at least one instruction");
        assert!(reason("/dev/null").starts_with("is not a regular file"));
        assert!(reason(&path(&dir.join("nope"))).starts_with("no such file, and no embedded guest"));
        std::fs::remove_dir_all(&dir).expect("removed");
    }

    #[test]
    fn a_file_is_opened_with_its_head_and_a_name_that_is_no_file_is_built_in() {
        let dir = std::env::temp_dir().join(format!("mini-kvm-files-ok-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let file = dir.join("ok.bin");
        std::fs::write(&file, vec![0x90; 10_000]).expect("a file");
        let opened = open(file.to_str().expect("UTF-8")).expect("a good file");
        let (_, len, head) = opened.file.expect("a file, not a built-in guest");
        assert_eq!((len, head.len()), (10_000, HEAD_SIZE as usize), "only the head is read");
        let hello = open("hello").expect("built in");
        assert!(hello.file.is_none() && hello.embedded.is_some_and(|g| g.name == "hello"));
        std::fs::remove_dir_all(&dir).expect("removed");
    }
}
