//! The ELF file gdb loads symbols from, for a built-in guest: one file per build, named by a
//! hash of its contents, written where no other user can interfere, or not at all.
//!
//! One file per build: checkouts and builds side by side each offer gdb the symbols of the
//! kernel they run (`os-1k-<hash>.elf`), where one shared `os-1k.elf` would be overwritten by
//! whichever ran last, and gdb on the other would show the wrong source. The directory keeps
//! the file in use and the [`KEEP_OTHERS`] most recently used others; older ones are removed,
//! so it does not grow with every build.
//!
//! The danger is the classic temporary-file race (CWE-377/CWE-59): a directory another user
//! can write, such as `$TMPDIR`, lets them plant `mini-kvm/os-1k.elf` as a symlink to a file
//! of ours, which a naive write (open with O_CREAT|O_TRUNC, following links) would clobber —
//! as root, any file. So (open(2), mkdir(2), rename(2)):
//!
//! * the directory is `$XDG_CACHE_HOME/mini-kvm`, `$HOME/.cache/mini-kvm`, or else
//!   `$TMPDIR/mini-kvm-UID`; it is created with mode 0700 and then checked with lstat: a real
//!   directory (not a symlink), owned by our effective uid, with no group or other access;
//! * the file is written under a fresh name opened with O_CREAT|O_EXCL|O_NOFOLLOW (it cannot
//!   be an existing file or a link) and renamed over the final name, which replaces a planted
//!   link rather than following it;
//! * if the directory fails the checks, the ELF inside the build tree is offered instead when
//!   it is still there, else no symbol file (gdb still works, without symbols).

use crate::console::message;
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Other builds' symbol files kept beside the one in use (the most recently used ones).
pub const KEEP_OTHERS: usize = 4;

/// 64-bit FNV-1a (Fowler, Noll, Vo): a name for a build's bytes, not a defence against anyone
/// (the directory is private, so only our own builds put files there).
pub fn content_hash(bytes: &[u8]) -> u64 {
    bytes
        .iter()
        .fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// The file name for built-in guest `name`'s symbols with these contents: `os-1k-<hash>.elf`.
pub fn file_name(name: &str, bytes: &[u8]) -> String {
    format!("{name}-{:016x}.elf", content_hash(bytes))
}

/// Where the symbol file goes, from the environment (see the module comment).
pub fn cache_dir() -> PathBuf {
    let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("XDG_CACHE_HOME") {
        return PathBuf::from(dir).join("mini-kvm");
    }
    if let Some(home) = var("HOME") {
        return PathBuf::from(home).join(".cache").join("mini-kvm");
    }
    let uid = nix::unistd::geteuid();
    std::env::temp_dir().join(format!("mini-kvm-{uid}"))
}

/// Makes sure `dir` exists as our own private directory; the error says why it is not one.
pub fn private_dir(dir: &Path) -> Result<(), String> {
    if let Some(parent) = dir.parent() {
        // The parents (~/.cache) may be created as usual; only the last level must be ours.
        let _ = fs::create_dir_all(parent);
    }
    match DirBuilder::new().mode(0o700).create(dir) {
        Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => {
            return Err(format!("cannot create {}: {e}", dir.display()))
        }
        _ => {}
    }
    let meta = fs::symlink_metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mode = meta.permissions().mode();
    let why = if meta.file_type().is_symlink() {
        "is a symbolic link".to_string()
    } else if !meta.is_dir() {
        "is not a directory".to_string()
    } else if meta.uid() != nix::unistd::geteuid().as_raw() {
        format!("belongs to uid {}, not to us", meta.uid())
    } else if mode & 0o077 != 0 {
        format!("has mode {:o}: others could replace files in it", mode & 0o777)
    } else {
        return Ok(());
    };
    Err(format!("{} {why}", dir.display()))
}

/// Writes `bytes` to `dir/name` (already checked private) without following any link. A file
/// that already holds them is kept, and marked as just used (its modification time).
pub fn write_new(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, String> {
    let path = dir.join(name);
    if read_no_follow(&path).is_ok_and(|current| current == bytes) {
        // Marked as used for prune(); a file that cannot be is only pruned sooner.
        let _ = OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&path)
            .and_then(|file| file.set_modified(std::time::SystemTime::now()));
        return Ok(path);
    }
    let temp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let _ = fs::remove_file(&temp); // ours, from a run that died; never followed
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true) // O_CREAT | O_EXCL
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&temp)
        .map_err(|e| format!("cannot create {}: {e}", temp.display()))?;
    let written = file.write_all(bytes).and_then(|_| file.sync_all());
    drop(file);
    if let Err(e) = written.and_then(|_| fs::rename(&temp, &path)) {
        let _ = fs::remove_file(&temp);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(path)
}

fn read_no_follow(path: &Path) -> std::io::Result<Vec<u8>> {
    let mut file = OpenOptions::new().read(true).custom_flags(libc::O_NOFOLLOW).open(path)?;
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut file, &mut out)?;
    Ok(out)
}

/// Removes the symbol files of built-in guest `name` in `dir` other than `keep`, but for the
/// [`KEEP_OTHERS`] most recently used: `name-<hash>.elf`, and `name.elf`, the one name all
/// builds once shared. Links are removed as links (never followed); what cannot be removed
/// stays, and is tried again next time.
pub fn prune(dir: &Path, name: &str, keep: &Path) {
    let Ok(entries) = fs::read_dir(dir) else { return };
    let hashed = |file: &str| {
        file.strip_prefix(name)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.strip_suffix(".elf"))
            .is_some_and(|hash| hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    let shared_name = format!("{name}.elf");
    let mut others: Vec<(std::time::SystemTime, PathBuf)> = entries
        .flatten()
        .filter(|e| {
            let file = e.file_name();
            let file = file.to_string_lossy();
            (hashed(&file) || file == shared_name) && e.path() != keep
        })
        .map(|e| {
            let used = e.metadata().and_then(|m| m.modified()).unwrap_or(std::time::UNIX_EPOCH);
            (used, e.path())
        })
        .collect();
    others.sort_by_key(|(used, _)| std::cmp::Reverse(*used));
    for (_, old) in others.into_iter().skip(KEEP_OTHERS) {
        let _ = fs::remove_file(old);
    }
}

/// The symbol file for built-in guest `name`: `name-<hash>.elf` in the private cache directory
/// (older builds' files pruned), else the build tree's copy (`in_tree`) if it still holds the
/// same bytes, else None; a refusal is said on stderr.
pub fn for_builtin(name: &str, bytes: &[u8], in_tree: &Path) -> Option<PathBuf> {
    let dir = cache_dir();
    let written = private_dir(&dir).and_then(|()| write_new(&dir, &file_name(name, bytes), bytes));
    match written {
        Ok(path) => {
            prune(&dir, name, &path);
            Some(path)
        }
        Err(why) => {
            let fallback =
                read_no_follow(in_tree).is_ok_and(|b| b == bytes).then(|| in_tree.to_path_buf());
            let instead = match &fallback {
                Some(p) => format!("offering {} instead", p.display()),
                None => "gdb gets no symbol file".to_string(),
            };
            message(&format!("mini-kvm: gdb: not writing the symbol file: {why}; {instead}"));
            fallback
        }
    }
}

#[cfg(test)]
mod tests;
