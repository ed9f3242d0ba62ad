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
    initramfs_with(busybox, &[])
}

/// A file of an initramfs: its path in the archive, its mode (with the file type bits), its
/// bytes.
pub type Entry = (String, u32, Vec<u8>);

/// [`initramfs`] with `extra` entries after /init (a directory before the files in it).
pub fn initramfs_with(busybox: &[u8], extra: &[Entry]) -> Vec<u8> {
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
    for (name, mode, data) in extra {
        add(name, *mode, data);
    }
    add("TRAILER!!!", 0, b"");
    out
}

/// The modules a Debian kernel needs for a virtio-mmio disk with an ext2 file system, in the
/// order `insmod` must load them (each after the ones its `depends=` names): the virtio core,
/// the virtio-mmio transport (it binds the ACPI device `LNRO0005`), the block driver, and ext4
/// (which mounts ext2) with what it needs: the modules its `depends=` names, and the crc32c
/// hash, which it asks the crypto API for at every mount (ENOENT without it, even for ext2).
pub const DISK_MODULES: [&str; 9] = [
    "drivers/virtio/virtio_ring",
    "drivers/virtio/virtio",
    "drivers/virtio/virtio_mmio",
    "drivers/block/virtio_blk",
    "lib/crc16",
    "crypto/crc32c_generic",
    "fs/mbcache",
    "fs/jbd2/jbd2",
    "fs/ext4/ext4",
];

/// `modules` from the tree the lane unpacked `kernel` (ROOT/boot/vmlinuz-VERSION) into
/// (ROOT/lib/modules/VERSION/kernel/NAME.ko), as initramfs entries under /modules, with
/// /modules/order naming them in loading order. A module that is missing fails the test.
pub fn kernel_modules(kernel: &Path, modules: &[&str]) -> Vec<Entry> {
    let version =
        kernel.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_prefix("vmlinuz-"));
    let root = kernel.parent().and_then(Path::parent);
    let (Some(version), Some(root)) = (version, root) else {
        panic!(
            "{}: not ROOT/boot/vmlinuz-VERSION, so its modules cannot be found",
            kernel.display()
        )
    };
    let dir = root.join("lib/modules").join(version).join("kernel");
    let mut entries = vec![("modules".to_string(), 0o040755, Vec::new())];
    let mut order = String::new();
    for module in modules {
        let path = dir.join(format!("{module}.ko"));
        let bytes = std::fs::read(&path).unwrap_or_else(|e| {
            panic!("{}: {e} (the lane's Debian kernel package has it)", path.display())
        });
        let name = format!("{}.ko", module.rsplit('/').next().unwrap_or(module));
        order.push_str(&format!("{name}\n"));
        entries.push((format!("modules/{name}"), 0o100644, bytes));
    }
    entries.push(("modules/order".to_string(), 0o100644, order.into_bytes()));
    entries
}

/// /test.sh of the device tests' initramfs (tests/linux_disk.rs, tests/linux_smp.rs), run by
/// linux/init as `-- /bin/sh /test.sh STEP...` once /init has loaded /modules (if the initramfs
/// has any, as `make linux`'s does): each step prints what it found in lines the tests compare
/// whole (a module that fails to load adds `init: insmod NAME failed`).
pub const TEST_SCRIPT: &str = r#"mkdir -p /mnt
for step in "$@"; do
    case $step in
    cpus)
        echo "cpus: $(nproc) online ($(cat /sys/devices/system/cpu/online))"
        awk '$1 == "LOC:" { s = "local timer interrupts:"
            for (i = 2; i <= NF && $i ~ /^[0-9]+$/; i++) s = s " CPU" (i - 2) " " ($i > 0 ? "yes" : "none")
            print s }' /proc/interrupts ;;
    disk)
        echo "vda: $(cat /sys/block/vda/size) sectors"
        awk '$NF == "virtio0" { n = 0; for (i = 2; $i ~ /^[0-9]+$/; i++) n += $i
            print "virtio0:", $(NF - 2), $(NF - 1), (n > 0 ? "interrupts taken" : "no interrupt") }' /proc/interrupts ;;
    mkfs)
        mke2fs /dev/vda >/dev/null && echo "mke2fs /dev/vda: done" ;;
    write)
        mount -t ext2 /dev/vda /mnt && echo "mounted /dev/vda on /mnt"
        echo "$NOTE" >/mnt/note
        umount /mnt && echo "unmounted" ;;
    read)
        mount -t ext2 -o ro /dev/vda /mnt && cat /mnt/note
        umount /mnt && echo "unmounted" ;;
    *) echo "no step $step" ;;
    esac
done
"#;

/// What the `write` step of [`TEST_SCRIPT`] writes to /mnt/note (`NOTE=` on the kernel command
/// line reaches /init's environment).
pub const NOTE: &str = "written-by-the-first-boot";

/// The kernel command line of the device tests: COM1 only, nothing logged below KERN_EMERG (so
/// the output is the script's and the halt's line), no RTC probe, the script's steps.
pub fn script_cmdline(steps: &str) -> String {
    format!(
        "console=ttyS0 loglevel=1 printk.time=0 reboot=t pci=off nowatchdog \
         initcall_blacklist=cmos_init NOTE={NOTE} -- /bin/sh /test.sh {steps}"
    )
}

/// What a boot that runs `steps` prints: linux/init's line, the steps' `lines`, and the halt
/// that `poweroff -f` ends in (there is no ACPI power-off).
pub fn script_transcript(steps: &str, lines: &[&str]) -> String {
    let mut out =
        format!("mini-kvm initramfs: Linux x86_64 is up, running: /bin/sh /test.sh {steps}\n");
    for line in lines {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("reboot: System halted\n");
    out
}

/// Asserts that a boot running `steps` printed exactly `lines` between linux/init's line and
/// the halt (`script_transcript`), ended with status 0, and said nothing on stderr.
pub fn assert_transcript(r: &super::Run, steps: &str, lines: &[&str]) {
    assert_eq!(
        (r.stdout.as_str(), r.status),
        (script_transcript(steps, lines).as_str(), 0),
        "{}",
        r.stderr
    );
    assert_eq!(r.stderr, "");
}

/// The one line and status 4 with which a KVM that cannot boot Linux refuses `--linux`.
pub fn assert_linux_refused(r: &super::Run) {
    assert_eq!(r.status, 4, "{}{}", r.stdout, r.stderr);
    super::assert_one_line(r, &["--linux", "paravirtual", "real-KVM lane"]);
    assert_eq!(r.stdout, "");
}
