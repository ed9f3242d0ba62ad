//! `--linux --cpus 2`: Linux starts the second CPU itself (INIT/SIPI through its local APIC),
//! from the MP table mini-kvm writes in the EBDA, or, with `--disk`, from the ACPI tables'
//! MADT (boot/linux/firmware.rs). /test.sh (tests/common/linux.rs) prints how many CPUs are
//! online and whether each took local timer interrupts (/proc/interrupts' LOC row), and with a
//! disk makes, writes and reads back an ext2 file system on /dev/vda in the same boot. The
//! nested lane's own guest keeps one CPU: two vCPUs here run on it by turns, which is enough
//! for correctness. What to expect comes from `--host-check=keys`: where Linux cannot boot,
//! the `--linux` refusal; where a second vCPU is never started (`ap-start no`), the `--cpus`
//! refusal; else the boot.

mod common;

use common::linux::*;
use common::*;
use std::time::Duration;

/// The bound on one boot (some 15 to 30 s on the nested lane): `--timeout` ends a hung guest
/// with its output so far, and the test's own guard kills a hung mini-kvm.
const BOOT_TIMEOUT: &str = "150";
const BOOT_GUARD: Duration = Duration::from_secs(170);

fn scratch(name: &str) -> std::path::PathBuf {
    let dir =
        std::env::temp_dir().join(format!("mini-kvm-linux-smp-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Boots the lane's kernel on two CPUs with an initramfs (the disk's modules with `modules`),
/// `extra` options, and /test.sh's `steps`; `None` when this KVM refused, as asserted.
fn boot_two_cpus(dir: &std::path::Path, modules: bool, extra: &[&str], steps: &str) -> Option<Run> {
    let kernel = lane_file("MINI_KVM_LINUX_KERNEL", "boot/vmlinuz-");
    let busybox = std::fs::read(lane_file("MINI_KVM_LINUX_BUSYBOX", "bin/busybox")).unwrap();
    let mut files = if modules { kernel_modules(&kernel, &DISK_MODULES) } else { Vec::new() };
    files.push(("test.sh".into(), 0o100755, TEST_SCRIPT.as_bytes().to_vec()));
    let initrd = dir.join("initramfs.cpio");
    std::fs::write(&initrd, initramfs_with(&busybox, &files)).unwrap();
    let (kernel, initrd) = (kernel.to_string_lossy(), initrd.to_string_lossy());
    let cmdline = script_cmdline(steps);
    let args = ["--linux", &kernel, "--initrd", &initrd, "--cpus", "2", "--cmdline", &cmdline];
    let args = [&args[..], extra, &["--timeout", BOOT_TIMEOUT]].concat();
    let r = run_with(&args, b"", &[], BOOT_GUARD);
    if !host().is("linux-boot", "yes") {
        assert_linux_refused(&r);
        return None;
    }
    if !host().is("ap-start", "yes") {
        assert_eq!(r.status, 4, "{}", r.stderr);
        assert_one_line(&r, &["--cpus 2: this KVM does not start a second vCPU", "--cpus 1"]);
        return None;
    }
    Some(Run { stdout: r.stdout.replace('\r', ""), ..r })
}

#[test]
#[ignore = "boots Linux: needs the real-KVM lane's Debian kernel and busybox (tests/real-kvm/lane.sh)"]
fn linux_brings_up_the_second_cpu_from_the_mp_table() {
    let dir = scratch("mptable");
    let Some(r) = boot_two_cpus(&dir, false, &[], "cpus") else { return };
    let found = ["cpus: 2 online (0-1)", "local timer interrupts: CPU0 yes CPU1 yes"];
    assert_transcript(&r, "cpus", &found);
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
#[ignore = "boots Linux: needs the real-KVM lane's Debian kernel, its modules and busybox (tests/real-kvm/lane.sh)"]
fn linux_on_two_cpus_with_a_disk_reads_the_madt_and_uses_vda() {
    let dir = scratch("madt");
    let disk = dir.join("disk.img");
    std::fs::File::create(&disk).unwrap().set_len(8 << 20).unwrap();
    let disk = disk.to_string_lossy().into_owned();
    let steps = "cpus disk mkfs write read";
    let Some(r) = boot_two_cpus(&dir, true, &["--disk", &disk], steps) else { return };
    let found = [
        "cpus: 2 online (0-1)",
        "local timer interrupts: CPU0 yes CPU1 yes",
        "vda: 16384 sectors",
        "virtio0: IO-APIC 5-edge interrupts taken",
        "mke2fs /dev/vda: done",
        "mounted /dev/vda on /mnt",
        "unmounted",
        NOTE,
        "unmounted",
    ];
    assert_transcript(&r, steps, &found);
    let image = std::fs::read(&disk).unwrap();
    assert_eq!(image[1080..1082], [0x53, 0xEF], "the ext2 magic");
    let _ = std::fs::remove_dir_all(dir);
}
