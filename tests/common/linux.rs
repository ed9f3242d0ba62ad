//! The real-KVM lane's Linux kernel and busybox, and an initramfs made from them, for
//! tests/linux.rs and the tour's Linux chapter (tests/docs.rs).

use super::MINI_KVM;
use std::path::{Path, PathBuf};

/// Where the lane unpacked `under_root` (a path prefix such as "boot/vmlinuz-"), if it did.
pub fn find_lane_file(var: &str, under_root: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(var) {
        return Some(PathBuf::from(path));
    }
    let exe = Path::new(MINI_KVM);
    let target = exe.parent().and_then(Path::parent)?;
    let (parent, prefix) = under_root.rsplit_once('/').unwrap_or(("", under_root));
    std::fs::read_dir(target.join("real-kvm"))
        .ok()?
        .flatten()
        .map(|d| d.path())
        .filter(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("root-")))
        .find_map(|root| {
            std::fs::read_dir(root.join(parent))
                .ok()?
                .flatten()
                .map(|e| e.path())
                .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with(prefix)))
        })
}

/// The lane's Debian kernel or busybox: from the variable the lane's job exports, else from
/// where the lane unpacked it under the target directory; missing fails the test, with the fix.
pub fn lane_file(var: &str, under_root: &str) -> PathBuf {
    find_lane_file(var, under_root).unwrap_or_else(|| {
        panic!(
            "no {under_root}* of the real-KVM lane: run `bash tests/real-kvm/lane.sh` once \
             (it fetches Debian's kernel and busybox-static), or set {var}"
        )
    })
}

/// The initramfs (busybox and linux/init) written to a file of its own; its path.
pub fn initramfs_file(busybox: &Path) -> Option<PathBuf> {
    let bytes = std::fs::read(busybox).ok()?;
    let dir = std::env::temp_dir().join(format!("mini-kvm-initramfs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).ok()?;
    let path = dir.join("initramfs.cpio");
    std::fs::write(&path, initramfs(&bytes)).ok()?;
    Some(path)
}

/// A cpio "newc" archive (the initramfs format, Documentation/driver-api/early-userspace/
/// buffer-format.rst): the directories, busybox, and linux/init as /init.
pub fn initramfs(busybox: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut add = |name: &str, mode: u32, data: &[u8]| {
        let fields = [1, mode, 0, 0, 1, 0, data.len() as u32, 0, 0, 0, 0, name.len() as u32 + 1, 0];
        out.extend_from_slice(b"070701");
        for f in fields {
            out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        out.extend_from_slice(name.as_bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    };
    for dir in ["bin", "dev", "proc", "sys", "tmp"] {
        add(dir, 0o040755, b"");
    }
    add("bin/busybox", 0o100755, busybox);
    add("init", 0o100755, include_bytes!("../../linux/init"));
    add("TRAILER!!!", 0, b"");
    out
}
