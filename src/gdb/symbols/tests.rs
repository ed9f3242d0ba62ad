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
    assert_eq!(fs::read_dir(&victim).unwrap().count(), 0, "nothing written there");
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
    assert!(meta.file_type().is_file(), "the link was replaced by a file");
    assert_eq!(fs::read(&path).unwrap(), b"\x7fELF symbols");
    fs::remove_dir_all(&base).unwrap();
}

#[test]
fn each_build_has_its_own_name() {
    let a = file_name("os-1k", b"\x7fELF one build");
    let b = file_name("os-1k", b"\x7fELF another build");
    assert_ne!(a, b);
    assert!(a.starts_with("os-1k-") && a.ends_with(".elf") && a.len() == "os-1k-.elf".len() + 16);
    assert_eq!(a, file_name("os-1k", b"\x7fELF one build"), "the same bytes, the same name");
    // FNV-1a's published test value (the empty input is the offset basis).
    assert_eq!(content_hash(b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(content_hash(b"a"), 0xaf63_dc4c_8601_ec8c);
}

#[test]
fn old_builds_are_pruned_to_the_most_recently_used() {
    let base = scratch("prune");
    let dir = base.join("mini-kvm");
    private_dir(&dir).unwrap();
    let keep = write_new(&dir, &file_name("os-1k", b"this build"), b"this build").unwrap();
    // Seven other builds, used one after the other (oldest first), and the name every build
    // once shared.
    let start = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    let mut others = Vec::new();
    for i in 0..7u64 {
        let path = dir.join(format!("os-1k-{i:016x}.elf"));
        fs::write(&path, b"old").unwrap();
        let used = start + std::time::Duration::from_secs(60 * i);
        fs::File::options().write(true).open(&path).unwrap().set_modified(used).unwrap();
        others.push(path);
    }
    fs::write(dir.join("os-1k.elf"), b"shared").unwrap();
    let old = start - std::time::Duration::from_secs(60);
    fs::File::options().write(true).open(dir.join("os-1k.elf")).unwrap().set_modified(old).unwrap();
    // Not ours to prune: another guest's file, and a name that only looks like one.
    fs::write(dir.join("hello-0000000000000000.elf"), b"x").unwrap();
    fs::write(dir.join("os-1k-notes.elf"), b"x").unwrap();
    prune(&dir, "os-1k", &keep);
    let mut left: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    let mut want = vec![
        keep.file_name().unwrap().to_string_lossy().into_owned(),
        "hello-0000000000000000.elf".to_string(),
        "os-1k-notes.elf".to_string(),
    ];
    want.extend((3..7u64).map(|i| format!("os-1k-{i:016x}.elf")));
    want.sort();
    assert_eq!(left, want);
    fs::remove_dir_all(&base).unwrap();
}
