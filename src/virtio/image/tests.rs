//! The disk's option, its checks on real files (a scratch directory per test), the 1K OS
//! image's format check. No KVM.

use super::*;
use std::path::PathBuf;

/// A scratch directory, removed at the end.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir =
            std::env::temp_dir().join(format!("mini-kvm-image-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }
    fn file(&self, name: &str, bytes: &[u8]) -> String {
        std::fs::write(self.0.join(name), bytes).unwrap();
        self.path(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn reason(ending: Ending) -> String {
    match ending {
        Ending::Image { reason, .. } => reason,
        other => panic!("not an image error: {other:?}"),
    }
}

/// A 1K OS superblock sector with this magic and version.
fn superblock(magic: u32, version: u32) -> Vec<u8> {
    let mut s = vec![0u8; 512];
    s[FS_MAGIC_OFFSET..FS_MAGIC_OFFSET + 4].copy_from_slice(&magic.to_le_bytes());
    s[FS_VERSION_OFFSET..FS_VERSION_OFFSET + 4].copy_from_slice(&version.to_le_bytes());
    s
}

#[test]
fn the_option_is_a_file_and_maybe_ro() {
    assert_eq!(parse("disk.img").unwrap(), ("disk.img", false));
    assert_eq!(parse("disk.img,ro").unwrap(), ("disk.img", true));
    assert_eq!(parse("a,b.img,ro").unwrap(), ("a,b.img", true));
    for bad in ["disk.img,rw", ",ro", "", "x,"] {
        assert!(matches!(parse(bad), Err(Ending::Usage(_))), "{bad:?}");
    }
}

#[test]
fn the_format_check_reads_magic_and_version() {
    assert_eq!(check_format(&superblock(FS_MAGIC, FS_VERSION)), Ok(()));
    let other = check_format(&superblock(FS_MAGIC, FS_VERSION + 1)).unwrap_err();
    assert!(other.starts_with(&format!("is a 1K OS disk of format version {}", FS_VERSION + 1)));
    assert!(check_format(&superblock(0x1234, FS_VERSION)).unwrap_err().contains("no \"1KFS\""));
    assert!(check_format(&[]).unwrap_err().contains("not a 1K OS disk"));
    assert!(check_format(&superblock(FS_MAGIC, FS_VERSION)[..6]).is_err());
    assert_eq!(&FS_MAGIC.to_le_bytes(), b"1KFS");
}

#[test]
fn the_format_constants_are_os_1k_fs_h() {
    let fs_h = include_str!("../../../os-1k/fs.h");
    let define = |name: &str| {
        let line = fs_h.lines().find(|l| l.starts_with(&format!("#define {name} "))).unwrap();
        let value = line.split_whitespace().nth(2).unwrap();
        match value.strip_prefix("0x") {
            Some(hex) => u32::from_str_radix(hex, 16).unwrap(),
            None => value.parse().unwrap(),
        }
    };
    assert_eq!((define("FS_MAGIC"), define("FS_VERSION")), (FS_MAGIC, FS_VERSION));
    assert!(fs_h.contains("uint32_t magic;         /* offset 0:"), "FS_MAGIC_OFFSET");
    assert!(fs_h.contains("uint32_t version;       /* offset 4:"), "FS_VERSION_OFFSET");
}

#[test]
fn a_file_opens_with_its_size_and_read_only_is_kept() {
    let s = Scratch::new("ok");
    let path = s.file("disk.img", &[7u8; 4096]);
    let image = open(&path, true, false).unwrap();
    assert_eq!((image.len, image.read_only, image.id.as_str()), (4096, true, "disk.img"));
    let Backend::File(file) = &image.backend else { panic!("a file") };
    assert!(file.write_at(b"x", 0).is_err(), "opened read-only");
}

#[test]
fn what_is_no_disk_is_refused_with_its_reason() {
    let s = Scratch::new("refused");
    assert!(reason(open(&s.path(""), false, false).err().unwrap()).starts_with("is a directory"));
    assert!(reason(open(&s.path(""), true, false).err().unwrap()).starts_with("is a directory"));
    let fifo = s.path("fifo");
    nix::unistd::mkfifo(fifo.as_str(), nix::sys::stat::Mode::S_IRWXU).unwrap();
    assert!(reason(open(&fifo, false, false).err().unwrap()).starts_with("is a FIFO"));
    let odd = s.file("odd.img", &[0u8; 1000]);
    assert!(reason(open(&odd, false, false).err().unwrap())
        .starts_with("is 1000 bytes, not a whole number of 512-byte sectors"));
    let missing = s.path("missing.img");
    assert_eq!(reason(open(&missing, false, false).err().unwrap()), "does not exist");
    assert!(matches!(open("/dev/null", false, false), Err(Ending::Image { .. })));
}

#[test]
fn an_image_in_use_is_refused_and_read_only_runs_share_it() {
    let s = Scratch::new("locks");
    let path = s.file("disk.img", &[0u8; 512]);
    let writer = open(&path, false, false).unwrap();
    let in_use = reason(open(&path, false, false).err().unwrap());
    assert!(in_use.starts_with("is in use by another mini-kvm"), "{in_use}");
    let reader = reason(open(&path, true, false).err().unwrap());
    assert!(reader.ends_with("(two runs may share a disk only if both give ,ro)"), "{reader}");
    drop(writer);
    let (a, b) = (open(&path, true, false).unwrap(), open(&path, true, false).unwrap());
    assert!(reason(open(&path, false, false).err().unwrap()).starts_with("is in use"));
    drop((a, b));
    assert!(open(&path, false, false).is_ok(), "the lock goes with the file");
}

#[test]
fn a_missing_1k_os_disk_is_created_and_an_old_one_refused() {
    let s = Scratch::new("os-1k");
    let path = s.path("os.img");
    let image = open(&path, false, true).unwrap();
    assert!(image.created);
    assert_eq!(std::fs::read(&path).unwrap(), std::fs::read(env!("MINI_KVM_OS_1K_DISK")).unwrap());
    drop(image);
    assert!(!open(&path, false, true).unwrap().created, "then it is opened as it is");
    assert!(std::fs::read_dir(&s.0).unwrap().count() == 1, "nothing left beside it");
    let old = s.file("old.img", &superblock(FS_MAGIC, FS_VERSION + 1));
    let why = reason(open(&old, false, true).err().unwrap());
    assert!(why.contains(&format!("format version {}", FS_VERSION + 1)), "{why}");
    let other = s.file("other.img", &[0u8; 512]);
    assert!(reason(open(&other, false, true).err().unwrap()).contains("not a 1K OS disk"));
    assert!(open(&other, false, false).is_ok(), "any image, for another kernel");
    let ro_missing = s.path("ro.img");
    assert_eq!(reason(open(&ro_missing, true, true).err().unwrap()), "does not exist");
}
