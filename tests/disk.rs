//! `--disk`: the virtio-blk device driven by real guests (tests/guests/disk_*.asm, Multiboot
//! kernels that switch to long mode), through the real binary, into real image files; the
//! refusals of what is no disk; and the crash test's switch.

mod common;

use common::{
    assert_one_line, host, read_until, run_with, test_guest, Scratch, HANG_GUARD, MINI_KVM,
};
use std::process::{Command, Stdio};

/// 16 sectors: sector 0 starts with a line of text, the rest are zeros.
fn image() -> Vec<u8> {
    let mut d = vec![0u8; 16 * 512];
    let text = b"hello from the image\nsecond line";
    d[..text.len()].copy_from_slice(text);
    d
}

/// What disk_rw writes to sector 1.
fn pattern() -> Vec<u8> {
    let mut p = vec![b'.'; 512];
    let text = b"mini-kvm guest wrote sector 1\n";
    p[..text.len()].copy_from_slice(text);
    p
}

/// disk_rw's whole output on the 16-sector image named `id`.
fn transcript(id: &str, write: u8, same: &str) -> String {
    format!(
        "capacity 16\nid 0 {id}\nread 0: 0 hello from the image\nwrite 1: {write}\n\
         read 1: 0 {same}\nflush: 0\nread past the end: 1\nwrite past the end: 1\n\
         read of 100 bytes: 1\ntype 0x99: 2\ninterrupts: 9\n"
    )
}

fn disk_rw(disk: &str, extra: &[&str], envs: &[(&str, &str)]) -> common::Run {
    let guest = test_guest("disk_rw");
    let mut args = extra.to_vec();
    args.extend(["--disk", disk, &guest]);
    run_with(&args, b"", envs, HANG_GUARD)
}

#[test]
fn a_guest_reads_writes_and_flushes_the_image_and_sees_every_status() {
    let s = Scratch::new("rw");
    let disk = s.file("d.img", &image());
    let r = disk_rw(&disk, &[], &[]);
    assert_eq!((r.status, r.stderr.as_str()), (0, ""), "{}", r.stdout);
    assert_eq!(r.stdout, transcript("d.img", 0, "same"));
    let mut want = image();
    want[512..1024].copy_from_slice(&pattern());
    assert_eq!(std::fs::read(&disk).unwrap(), want, "sector 1 written, nothing else");
}

#[test]
fn a_read_only_disk_refuses_writes_with_ioerr_and_is_not_written() {
    let s = Scratch::new("ro");
    let disk = s.file("d.img", &image());
    let r = disk_rw(&format!("{disk},ro"), &[], &[]);
    assert_eq!((r.status, r.stderr.as_str()), (0, ""), "{}", r.stdout);
    assert_eq!(r.stdout, transcript("d.img", 1, "different"));
    assert_eq!(std::fs::read(&disk).unwrap(), image());
}

/// The disk's `--stats` table: its lines after "mini-kvm stats: disk:".
fn disk_table(stderr: &str) -> String {
    let at = stderr.find("mini-kvm stats: disk: ").expect("the disk's table");
    stderr[at..].lines().take(9).collect::<Vec<_>>().join("\n")
}

fn table(disk: &str, notifies: &str) -> String {
    format!(
        "mini-kvm stats: disk: {disk}
  requests                            9
  bytes read                       1024
  bytes written                     512
  flushes                             1
  IOERR/UNSUPP/malformed      3 / 1 / 0
  queue notify exits         {notifies}
  InterruptStatus reads               9 (MMIO exits)
  InterruptACK writes                 9 (MMIO exits)"
    )
}

#[test]
fn stats_count_requests_bytes_and_the_exits_left() {
    let s = Scratch::new("stats");
    let disk = s.file("d.img", &image());
    let r = disk_rw(&disk, &["--stats"], &[]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let notifies = match host().is("ioeventfd", "yes") {
        true => "         0 (KVM_IOEVENTFD: no exit)",
        false => "         9 (MMIO exits)",
    };
    assert_eq!(disk_table(&r.stderr), table(&disk, notifies));
}

#[test]
fn without_ioeventfd_and_irqfd_the_disk_works_through_exits_and_irq_line() {
    let s = Scratch::new("fallback");
    let disk = s.file("d.img", &image());
    let envs = [("MINI_KVM_TEST_DISK_FALLBACK", "1")];
    let r = disk_rw(&disk, &["--stats", "-v"], &envs);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, transcript("d.img", 0, "same"));
    assert_eq!(disk_table(&r.stderr), table(&disk, "         9 (MMIO exits)"));
    for line in [
        "mini-kvm: disk: no ioeventfd (MINI_KVM_TEST_DISK_FALLBACK=1): each queue notify is an MMIO exit\n",
        "mini-kvm: disk: no irqfd delivery (MINI_KVM_TEST_DISK_FALLBACK=1): interrupts through KVM_IRQ_LINE\n",
    ] {
        assert!(r.stderr.contains(line), "{line}: {}", r.stderr);
    }
}

#[test]
fn verbose_says_where_the_disk_is_and_how_its_notifies_and_interrupts_travel() {
    let s = Scratch::new("verbose");
    let disk = s.file("d.img", &image());
    let r = disk_rw(&disk, &["-v"], &[]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let place = format!("mini-kvm: disk: {disk}: 8192 bytes (16 sectors), read-write; virtio-blk on virtio-mmio at 0xd0000000-0xd0000fff, IRQ 5\n");
    assert!(r.stderr.contains(&place), "{}", r.stderr);
    let notify = "mini-kvm: disk: queue notifies through KVM_IOEVENTFD (no exit)\n";
    assert_eq!(r.stderr.contains(notify), host().is("ioeventfd", "yes"), "{}", r.stderr);
    let irq = "mini-kvm: disk: interrupts through KVM_IRQFD (its probe saw one arrive)\n";
    assert_eq!(r.stderr.contains(irq), host().is("irqfd", "yes"), "{}", r.stderr);
}

/// Runs disk_rw on `disk` and expects status 3 and one line naming it with `reason`.
fn refused(disk: &str, reason: &str) {
    let r = disk_rw(disk, &[], &[]);
    assert_eq!(r.status, 3, "{disk}: {}", r.stderr);
    let path = disk.strip_suffix(",ro").unwrap_or(disk);
    assert_one_line(&r, &[&format!("mini-kvm: error: guest image {path} (--disk): {reason}")]);
    assert_eq!(r.stdout, "", "the guest never ran");
}

#[test]
fn what_is_no_disk_is_refused_before_the_vm_starts() {
    let s = Scratch::new("refused");
    let dir = s.path("");
    refused(
        dir.trim_end_matches('/'),
        "is a directory; --disk takes an image file or a block device",
    );
    let dir_ro = format!("{},ro", dir.trim_end_matches('/'));
    refused(&dir_ro, "is a directory; --disk takes an image file or a block device");
    let fifo = s.path("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo runs");
    assert!(made.success(), "mkfifo {fifo}");
    refused(&fifo, "is a FIFO; --disk takes an image file or a block device");
    refused(&s.file("odd.img", &[0; 1000]), "is 1000 bytes, not a whole number of 512-byte sectors (a disk's size must be a multiple of 512)");
    refused(&s.path("missing.img"), "does not exist");
}

#[test]
fn an_unreadable_image_is_refused() {
    let s = Scratch::new("unreadable");
    let disk = s.file("secret.img", &[0; 512]);
    std::fs::set_permissions(&disk, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    // Root reads any file: as root, the run is made as nobody, for whom the mode holds.
    let mut cmd = Command::new(MINI_KVM);
    cmd.args(["--disk", &disk, &test_guest("disk_rw")]);
    if nix_uid_is_root() {
        std::os::unix::process::CommandExt::uid(&mut cmd, 65534);
        std::os::unix::process::CommandExt::gid(&mut cmd, 65534);
    }
    let out = cmd.stdin(Stdio::null()).output().expect("mini-kvm starts");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert_eq!(
        stderr,
        format!("mini-kvm: error: guest image {disk} (--disk): cannot be opened for reading and writing: Permission denied (os error 13) (a read-only disk: --disk FILE,ro)\n")
    );
}

fn nix_uid_is_root() -> bool {
    let out = Command::new("id").arg("-u").output().expect("id runs");
    String::from_utf8_lossy(&out.stdout).trim() == "0"
}

/// A mini-kvm holding `disk` (disk_wait) until the returned child's stdin is closed.
fn holder(disk: &str) -> std::process::Child {
    let mut child = Command::new(MINI_KVM)
        .args(["--disk", disk, &test_guest("disk_wait")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("mini-kvm starts");
    let mut seen = String::new();
    read_until(child.stdout.as_mut().unwrap(), &mut seen, "ready\n");
    child
}

/// Closes the holder's input: it ends with status 0.
fn release(mut child: std::process::Child) {
    drop(child.stdin.take());
    let status = child.wait().unwrap();
    assert!(status.success(), "the holder: {status:?}");
}

#[test]
fn an_image_another_mini_kvm_holds_is_refused_unless_both_read_only() {
    let s = Scratch::new("locked");
    let disk = s.file("d.img", &image());
    let writer = holder(&disk);
    refused(&disk, "is in use by another mini-kvm (it holds a flock on it): stop that one first");
    refused(&format!("{disk},ro"), "is in use by another mini-kvm (it holds a flock on it): stop that one first (two runs may share a disk only if both give ,ro)");
    release(writer);
    let reader = holder(&format!("{disk},ro"));
    let r = disk_rw(&format!("{disk},ro"), &[], &[]);
    assert_eq!((r.status, r.stdout), (0, transcript("d.img", 1, "different")));
    refused(&disk, "is in use by another mini-kvm (it holds a flock on it): stop that one first");
    release(reader);
    assert_eq!(disk_rw(&disk, &[], &[]).status, 0, "the lock went with its holder");
}

#[test]
fn the_disk_is_for_kernels_and_its_option_is_checked() {
    let s = Scratch::new("usage");
    let disk = s.file("d.img", &image());
    let r = run_with(&["--disk", &disk, "hello"], b"", &[], HANG_GUARD);
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert_one_line(
        &r,
        &["--disk needs the in-kernel interrupt controllers", "flat guests have none"],
    );
    // --disk is for --linux too (tests/linux_disk.rs boots it); the kernel is checked first.
    let r = run_with(&["--linux", "/nonexistent/bzImage", "--disk", &disk], b"", &[], HANG_GUARD);
    assert_eq!(r.status, 3, "{}", r.stderr);
    assert_one_line(&r, &["/nonexistent/bzImage", "cannot be opened as the kernel (bzImage)"]);
    let r = run_with(&["--disk", &format!("{disk},rw"), "os-1k"], b"", &[], HANG_GUARD);
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert_one_line(&r, &["--disk takes FILE or FILE,ro, not ',rw' after the file name"]);
    let r = run_with(
        &["--disk", &disk, &test_guest("disk_rw")],
        b"",
        &[("MINI_KVM_TEST_KILL_AFTER_REQUESTS", "0")],
        HANG_GUARD,
    );
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert_eq!(std::fs::read(&disk).unwrap(), image(), "refused before the guest ran");
}

/// A loop device on a file, detached at the end (needs root: `make test` runs as root).
struct Loop(String);

impl Loop {
    fn attach(file: &str) -> Loop {
        let out = Command::new("losetup").args(["--find", "--show", file]).output();
        let out = out.unwrap_or_else(|e| panic!("losetup cannot run ({e}): apt-get install mount"));
        assert!(
            out.status.success(),
            "a loop device could not be set up (it needs root and a kernel with loop devices): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Loop(String::from_utf8_lossy(&out.stdout).trim().to_string())
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.0]).status();
    }
}

#[test]
#[ignore = "needs root for a loop device: `make test` runs it (or: sudo cargo test -- --include-ignored)"]
fn a_block_device_is_a_disk_of_the_devices_size() {
    let s = Scratch::new("block");
    let file = s.file("backing.img", &image());
    let device = Loop::attach(&file);
    let r = disk_rw(&device.0, &["-v"], &[]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let name = device.0.rsplit('/').next().unwrap();
    assert_eq!(r.stdout, transcript(name, 0, "same"));
    assert!(
        r.stderr.contains(&format!("disk: {}: 8192 bytes (16 sectors)", device.0)),
        "{}",
        r.stderr
    );
    drop(device);
    let mut want = image();
    want[512..1024].copy_from_slice(&pattern());
    assert_eq!(std::fs::read(&file).unwrap(), want, "written through the device");
}

/// The seeds of the crash test: the requests after which mini-kvm is killed (of 64).
fn kill_points() -> Vec<u64> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15; // xorshift64, seed fixed: the same points each run
    let mut points = vec![1, 64];
    for _ in 0..4 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        points.push(1 + x % 64);
    }
    points
}

#[test]
fn killed_after_the_kth_request_the_image_holds_the_first_k_writes_whole() {
    let s = Scratch::new("kill");
    for k in kill_points() {
        let old = vec![b'o'; 64 * 512];
        let disk = s.file("fill.img", &old);
        let out = Command::new(MINI_KVM)
            .args(["--disk", &disk, &test_guest("disk_fill")])
            .env("MINI_KVM_TEST_KILL_AFTER_REQUESTS", k.to_string())
            .stdin(Stdio::null())
            .output()
            .expect("mini-kvm runs");
        let status = out.status;
        let signal = std::os::unix::process::ExitStatusExt::signal(&status);
        assert_eq!(
            signal,
            Some(9),
            "k={k}: killed as SIGKILL would ({status:?}): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let image = std::fs::read(&disk).unwrap();
        assert_eq!(image.len(), old.len(), "k={k}: the image keeps its size");
        for (n, sector) in image.chunks(512).enumerate() {
            let mut new = vec![b'N'; 512];
            new[..8].copy_from_slice(&(n as u64).to_le_bytes());
            let want = if (n as u64) < k { &new[..] } else { &old[..512] };
            assert_eq!(sector, want, "k={k}: sector {n} is whole, and new only if written");
        }
    }
    let disk = s.file("fill.img", &[b'o'; 64 * 512]);
    let r = run_with(
        &["--disk", &disk, &test_guest("disk_fill")],
        b"",
        &[("MINI_KVM_TEST_KILL_AFTER_REQUESTS", "65")],
        HANG_GUARD,
    );
    assert_eq!((r.status, r.stdout.as_str()), (0, "filled 64 sectors\n"), "{}", r.stderr);
}

#[test]
fn the_1k_os_disk_is_created_from_the_built_in_image_and_checked_after() {
    let s = Scratch::new("os-1k");
    let disk = s.path("os.img");
    let r = run_with(&["-v", "--disk", &disk, "os-1k"], b"0\n", &[], HANG_GUARD);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stderr.contains(&format!("mini-kvm: disk: {disk}: 4194304 bytes (8192 sectors), read-write, created from the built-in 1K OS image;")), "{}", r.stderr);
    let built_in = std::fs::read(env!("MINI_KVM_OS_1K_DISK")).unwrap();
    assert!(std::fs::read(&disk).unwrap() == built_in, "the new disk is the built-in image");
    let r = run_with(&["-v", "--disk", &disk, "os-1k"], b"0\n", &[], HANG_GUARD);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(!r.stderr.contains("created"), "the second run uses it as it is: {}", r.stderr);
    let mut newer = built_in.clone();
    newer[4..8].copy_from_slice(&2u32.to_le_bytes());
    let newer = s.file("v2.img", &newer);
    let r = run_with(&["--disk", &newer, "os-1k"], b"0\n", &[], HANG_GUARD);
    assert_eq!(r.status, 3);
    assert_one_line(&r, &[&format!("mini-kvm: error: guest image {newer} (--disk): is a 1K OS disk of format version 2; this mini-kvm's 1K OS reads version 1 (move it away and mini-kvm creates a new one)")]);
    let zeros = s.file("zeros.img", &[0; 4096]);
    let r = run_with(&["--disk", &zeros, "os-1k"], b"0\n", &[], HANG_GUARD);
    assert_eq!(r.status, 3);
    assert_one_line(&r, &["is not a 1K OS disk (no \"1KFS\" magic at offset 0;"]);
}
