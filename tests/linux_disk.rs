//! `--linux` with `--disk`: the virtio-blk disk becomes Linux's /dev/vda. The real-KVM lane's
//! Debian kernel finds the virtio-mmio device in the ACPI tables mini-kvm writes for a boot
//! with a disk (boot/linux/firmware.rs), through its modules (virtio_mmio, virtio_blk, ext4),
//! which the initramfs carries. A first boot makes an ext2 file system on an empty image,
//! mounts it and writes a file; a second boot of the same image reads the file back. Each
//! boot's whole output is compared. Where this KVM cannot boot Linux (`--host-check=keys`:
//! `linux-boot no`), each boot asserts mini-kvm's documented refusal instead.

mod common;

use common::linux::*;
use common::*;
use std::time::Duration;

/// The bound on one boot (a boot takes some 15 s on the nested lane): `--timeout` ends a hung
/// guest with its output so far, and the test's own guard kills a hung mini-kvm.
const BOOT_TIMEOUT: &str = "150";
const BOOT_GUARD: Duration = Duration::from_secs(170);

/// The lane's kernel and an initramfs of busybox, /test.sh and the disk's modules, written to
/// `dir`: (kernel, initramfs).
fn kernel_and_initrd(dir: &std::path::Path) -> (String, String) {
    let kernel = lane_file("MINI_KVM_LINUX_KERNEL", "boot/vmlinuz-");
    let busybox = std::fs::read(lane_file("MINI_KVM_LINUX_BUSYBOX", "bin/busybox")).unwrap();
    let mut extra = kernel_modules(&kernel, &DISK_MODULES);
    extra.push(("test.sh".into(), 0o100755, TEST_SCRIPT.as_bytes().to_vec()));
    let initrd = dir.join("initramfs.cpio");
    std::fs::write(&initrd, initramfs_with(&busybox, &extra)).unwrap();
    (kernel.to_string_lossy().into_owned(), initrd.to_string_lossy().into_owned())
}

fn scratch(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("mini-kvm-linux-disk-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// One boot of `kernel` with `initrd`, `--disk disk` and /test.sh's `steps`.
fn boot(kernel: &str, initrd: &str, disk: &str, steps: &str) -> Run {
    let cmdline = script_cmdline(steps);
    let args = ["--linux", kernel, "--initrd", initrd, "--disk", disk, "--cmdline", &cmdline];
    let r = run_with(&[&args[..], &["--timeout", BOOT_TIMEOUT]].concat(), b"", &[], BOOT_GUARD);
    Run { stdout: r.stdout.replace('\r', ""), ..r }
}

#[test]
#[ignore = "boots Linux: needs the real-KVM lane's Debian kernel, its modules and busybox (tests/real-kvm/lane.sh)"]
fn linux_makes_a_file_system_on_vda_and_the_next_boot_reads_it_back() {
    let dir = scratch("ext2");
    let (kernel, initrd) = kernel_and_initrd(&dir);
    // An empty disk of 16 MiB (sparse: it costs nothing until written).
    let disk = dir.join("disk.img");
    std::fs::File::create(&disk).unwrap().set_len(16 << 20).unwrap();
    let disk = disk.to_string_lossy().into_owned();

    let steps = "disk mkfs write";
    let r = boot(&kernel, &initrd, &disk, steps);
    if !host().is("linux-boot", "yes") {
        assert_linux_refused(&r);
        assert!(std::fs::read(&disk).unwrap().iter().all(|&b| b == 0), "refused, not written");
        return;
    }
    let found = [
        "vda: 32768 sectors",
        "virtio0: IO-APIC 5-edge interrupts taken",
        "mke2fs /dev/vda: done",
        "mounted /dev/vda on /mnt",
        "unmounted",
    ];
    assert_transcript(&r, steps, &found);
    // What Linux wrote is in the image: an ext2 superblock (magic 0xEF53 at byte 1080) and the
    // note's bytes in one of its blocks.
    let image = std::fs::read(&disk).unwrap();
    assert_eq!(image.len(), 16 << 20);
    assert_eq!(image[1080..1082], [0x53, 0xEF], "the ext2 magic");
    assert!(image.windows(NOTE.len()).any(|w| w == NOTE.as_bytes()), "the note is on the disk");

    let steps = "disk read";
    let r = boot(&kernel, &initrd, &disk, steps);
    let found =
        ["vda: 32768 sectors", "virtio0: IO-APIC 5-edge interrupts taken", NOTE, "unmounted"];
    assert_transcript(&r, steps, &found);
    assert_eq!(
        std::fs::read(&disk).unwrap(),
        image,
        "a read-only mount leaves the image as it was"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
#[ignore = "boots Linux: needs the real-KVM lane's Debian kernel, its modules and busybox (tests/real-kvm/lane.sh)"]
fn a_read_only_disk_is_read_only_to_linux() {
    let dir = scratch("ro");
    let (kernel, initrd) = kernel_and_initrd(&dir);
    let disk = dir.join("disk.img");
    std::fs::File::create(&disk).unwrap().set_len(1 << 20).unwrap();
    let ro = format!("{},ro", disk.display());
    let steps = "disk mkfs";
    let r = boot(&kernel, &initrd, &ro, steps);
    if !host().is("linux-boot", "yes") {
        return assert_linux_refused(&r);
    }
    // virtio-blk's VIRTIO_BLK_F_RO: Linux makes /dev/vda read-only, and refuses mke2fs's first
    // write (busybox says so on stderr, which is the console too).
    let found = [
        "vda: 2048 sectors",
        "virtio0: IO-APIC 5-edge interrupts taken",
        "mke2fs: write error: Operation not permitted",
    ];
    assert_transcript(&r, steps, &found);
    assert!(std::fs::read(&disk).unwrap().iter().all(|&b| b == 0), "nothing was written");
    let _ = std::fs::remove_dir_all(dir);
}
