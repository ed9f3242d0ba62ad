//! The 1K OS file system's promise, checked on the host: a stop at any point leaves every file
//! as it was before or after the write call in progress, and the disk mounts. The kernel's
//! `os-1k/fs.c` is compiled with gcc against a disk in memory that logs its sector writes
//! (`tests/fs_crash.c`), and every prefix of that log is mounted (see that file).

mod common;
use common::*;
use std::path::Path;
use std::process::Command;

#[test]
fn a_stop_after_any_sector_write_leaves_each_file_old_or_new() {
    require("gcc");
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // In the temporary directory: the real-KVM lane shares the build read-only.
    let exe = std::env::temp_dir().join(format!("mini-kvm-fs_crash-{}", std::process::id()));
    let build = Command::new("gcc")
        .args(["-std=gnu11", "-O1", "-fno-builtin", "-Wall", "-Wextra", "-Werror"])
        .arg("-I")
        .arg(root.join("os-1k"))
        .arg(root.join("tests/fs_crash.c"))
        .arg(root.join("os-1k/fs.c"))
        .arg(root.join("os-1k/lib.c"))
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("gcc runs");
    assert!(build.status.success(), "{}", String::from_utf8_lossy(&build.stderr));
    let run = Command::new(&exe).arg(env!("MINI_KVM_OS_1K_DISK")).output().expect("fs_crash runs");
    std::fs::remove_file(&exe).unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert_eq!(run.status.code(), Some(0), "{stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(
        lines[0].starts_with("16 steps, ")
            && lines[0].ends_with(" sector writes: the disk mounts after a stop at each, every file before or after its step"),
        "{stdout}"
    );
    // A disk of another format version is refused, saying which.
    assert_eq!(
        lines[1],
        "panic: fs: the disk's file system is version 2; this kernel reads version 1"
    );
}
