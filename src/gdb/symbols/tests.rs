//! Unit tests for symbols.rs: planted links and loose directories are never trusted.
use super::*;
use std::os::unix::fs::symlink;

/// A fresh scratch directory of this test's own.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mini-kvm-symbols-{}-{name}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_new_private_dir_is_made_0700_and_accepted() {
    let base = scratch("new");
    let dir = base.join("mini-kvm");
    private_dir(&dir).unwrap();
    let mode = fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o700);
    let path = write_new(&dir, "x.elf", b"ELF").unwrap();
    assert_eq!(fs::read(&path).unwrap(), b"ELF");
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    fs::remove_dir_all(&base).unwrap();
}

#[test]
fn a_planted_directory_link_or_a_loose_directory_is_refused() {
    let base = scratch("planted");
    let victim = base.join("victim");
    fs::create_dir(&victim).unwrap();
    symlink(&victim, base.join("mini-kvm")).unwrap();
    let e = private_dir(&base.join("mini-kvm")).unwrap_err();
    assert!(e.contains("is a symbolic link"), "{e}");
    let loose = base.join("loose");
    fs::create_dir(&loose).unwrap();
    fs::set_permissions(&loose, fs::Permissions::from_mode(0o777)).unwrap();
    let e = private_dir(&loose).unwrap_err();
    assert!(e.contains("has mode 777"), "{e}");
    assert_eq!(
        fs::read_dir(&victim).unwrap().count(),
        0,
        "nothing written there"
    );
    fs::remove_dir_all(&base).unwrap();
}

#[test]
fn a_planted_file_link_is_replaced_not_followed() {
    let base = scratch("filelink");
    let dir = base.join("mini-kvm");
    private_dir(&dir).unwrap();
    let victim = base.join("precious");
    fs::write(&victim, b"do not touch").unwrap();
    symlink(&victim, dir.join("os-1k.elf")).unwrap();
    let path = write_new(&dir, "os-1k.elf", b"\x7fELF symbols").unwrap();
    assert_eq!(fs::read(&victim).unwrap(), b"do not touch");
    let meta = fs::symlink_metadata(&path).unwrap();
    assert!(
        meta.file_type().is_file(),
        "the link was replaced by a file"
    );
    assert_eq!(fs::read(&path).unwrap(), b"\x7fELF symbols");
    fs::remove_dir_all(&base).unwrap();
}
