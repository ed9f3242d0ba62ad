//! `--linux`: the x86 boot protocol end to end. Bad kernels, initrds and command lines are
//! refused before any KVM is touched (status 3 or 2, one line); a tiny hand-made bzImage whose
//! `startup_64` prints a byte and halts with interrupts off shows the 64-bit entry and the
//! halt-for-good detection; and the real-KVM lane's Debian kernel boots the project's busybox
//! /init (linux/init) to a shell that runs a command piped in and ends with `reboot -f`, under
//! `--stats`. On a paravirtual KVM, which cannot boot Linux, each boot asserts mini-kvm's exact
//! refusal, and that it came before the files were read.

mod common;

use common::linux::{initramfs, lane_file};
use common::*;
use nix::sys::resource::{getrusage, UsageWho};
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A bzImage in miniature: a valid 2.15 setup header, one setup sector, and a protected-mode
/// part whose `startup_64` (offset 0x200) writes `L` to COM1 and does `cli; hlt`, and whose
/// `startup_32` (offset 0) does the same with `3` (the bytes mean the same in both modes).
fn tiny_bzimage() -> Vec<u8> {
    let mut b = vec![0u8; 1024 + 0x400];
    b[0x1F1] = 1; // setup_sects
    b[0x1FE..0x200].copy_from_slice(&0xAA55u16.to_le_bytes());
    b[0x201] = 0x6A;
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x206..0x208].copy_from_slice(&0x020Fu16.to_le_bytes());
    b[0x211] = 1; // LOADED_HIGH
    b[0x22C..0x230].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    b[0x230..0x234].copy_from_slice(&0x20_0000u32.to_le_bytes());
    b[0x236..0x238].copy_from_slice(&1u16.to_le_bytes()); // XLF_KERNEL_64
    b[0x238..0x23C].copy_from_slice(&2047u32.to_le_bytes());
    b[0x260..0x264].copy_from_slice(&0x1_0000u32.to_le_bytes()); // init_size

    // startup_64: mov dx, 0x3F8; mov al, 'L'; out dx, al; cli; hlt
    let code = [0x66, 0xBA, 0xF8, 0x03, 0xB0, b'L', 0xEE, 0xFA, 0xF4];
    b[1024 + 0x200..1024 + 0x200 + code.len()].copy_from_slice(&code);
    let code32 = [0x66, 0xBA, 0xF8, 0x03, 0xB0, b'3', 0xEE, 0xFA, 0xF4];
    b[1024..1024 + code32.len()].copy_from_slice(&code32);
    b
}

fn temp_file(name: &str, bytes: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!("mini-kvm-linux-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path.to_string_lossy().into_owned()
}

#[test]
fn broken_kernels_and_initrds_are_refused_before_kvm() {
    let not_linux = temp_file("not-linux", &[0x90; 4096]);
    let r = run(&["--linux", &not_linux]);
    assert_eq!(r.status, 3, "{}", r.stderr);
    assert_one_line(&r, &[&not_linux, "not a Linux bzImage", "HdrS"]);

    let mut old = tiny_bzimage();
    old[0x206..0x208].copy_from_slice(&0x0201u16.to_le_bytes());
    let old = temp_file("old", &old);
    let r = run(&["--linux", &old]);
    assert_eq!(r.status, 3, "{}", r.stderr);
    assert_one_line(&r, &[&old, "protocol 2.01", "2.12"]);

    let short = temp_file("short", &tiny_bzimage()[..0x240]);
    let r = run(&["--linux", &short]);
    assert_eq!(r.status, 3, "{}", r.stderr);
    assert_one_line(&r, &[&short, "too short", "the end of the setup header"]);
    // The magic is there, the version after it is cut off: what is missing is named.
    for len in [0x206, 0x207] {
        let cut = temp_file(&format!("cut-{len}"), &tiny_bzimage()[..len]);
        let r = run(&["--linux", &cut]);
        assert_eq!(r.status, 3, "{len} bytes: {}", r.stderr);
        assert_one_line(
            &r,
            &[&cut, &format!("is {len} bytes"), "the setup header's version at byte 0x206"],
        );
    }

    // A relocatable kernel's pref_address near 2^64: pref_address + init_size would wrap
    // (a debug build panicked, a release build wrapped and went on to status 4).
    let mut far = tiny_bzimage();
    far[0x234] = 1; // relocatable_kernel
    far[0x258..0x260].copy_from_slice(&0xFFFF_FFFF_FFFF_F000u64.to_le_bytes());
    let far = temp_file("far", &far);
    let r = run(&["--linux", &far]);
    assert_eq!(r.status, 3, "{}", r.stderr);
    assert_one_line(&r, &[&far, "pref_address 0xfffffffffffff000", "corrupt"]);

    let empty = temp_file("empty", b"");
    let r = run(&["--linux", &empty]);
    assert_eq!(r.status, 3, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        format!(
            "mini-kvm: error: guest image {empty}: is empty: a Linux bzImage starts with its \
             setup header; give --linux the kernel's bzImage (arch/x86/boot/bzImage, \
             /boot/vmlinuz-*)\n"
        )
    );

    let kernel = temp_file("tiny", &tiny_bzimage());
    let r = run(&["--linux", &kernel, "--initrd", &empty]);
    assert_eq!(r.status, 3, "{}", r.stderr);
    assert_eq!(
        r.stderr,
        format!(
            "mini-kvm: error: guest image {empty}: is empty: an initrd must be a non-empty cpio \
             archive (the initramfs format)\n"
        )
    );
    let r = run(&["--linux", &kernel, "--initrd", "/nonexistent/initrd"]);
    assert_eq!(r.status, 3, "{}", r.stderr);
    assert_one_line(&r, &["/nonexistent/initrd", "initrd"]);
    // A sparse 4 MiB initrd against 4 MiB of RAM: refused from its size, never read.
    let big = temp_file("big", b"");
    std::fs::File::options().write(true).open(&big).unwrap().set_len(4 << 20).unwrap();
    let r = run(&["--linux", &kernel, "--initrd", &big, "--mem", "4M"]);
    assert_eq!(r.status, 3, "{}", r.stderr);
    assert_one_line(&r, &[&big, "at most", "--mem"]);

    // initrd_addr_max (2 GiB here), not RAM, is the ceiling at --mem 3G: no larger --mem.
    std::fs::File::options().write(true).open(&big).unwrap().set_len(2 << 30).unwrap();
    let r = run(&["--linux", &kernel, "--initrd", &big, "--mem", "3G"]);
    assert_eq!(r.status, 3, "{}", r.stderr);
    assert_one_line(&r, &[&big, "initrd_addr_max is the limit", "smaller initrd"]);
    assert!(!r.stderr.contains("larger --mem"), "{}", r.stderr);

    // A kernel that takes no command line, and none given: mini-kvm's default does not fit,
    // which is the kernel's limit (status 3), not a usage error.
    let mut no_cmdline = tiny_bzimage();
    no_cmdline[0x238..0x23C].copy_from_slice(&0u32.to_le_bytes());
    let no_cmdline = temp_file("no-cmdline", &no_cmdline);
    let r = run(&["--linux", &no_cmdline, "--timeout", "5"]);
    assert_eq!(r.status, 3, "{}", r.stderr);
    assert_one_line(
        &r,
        &[&no_cmdline, "accepts no command line", "mini-kvm's default", "--cmdline ''"],
    );

    let long = "x".repeat(2048);
    let r = run(&["--linux", &kernel, "--cmdline", &long]);
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert_one_line(&r, &["2048", "at most 2047", "cmdline_size"]);
    for extra in [&["hello"][..], &["--long-mode"], &["--paging"]] {
        let mut args = vec!["--linux", kernel.as_str()];
        args.extend_from_slice(extra);
        let r = run(&args);
        assert_eq!(r.status, 2, "{extra:?}: {}", r.stderr);
        assert_one_line(&r, &["--linux"]);
    }
    let r = run(&["--initrd", &kernel, "hello"]);
    assert_eq!(r.status, 2, "{}", r.stderr);
}

#[test]
fn a_reset_switches_the_whole_machine_off_with_status_0() {
    // vCPU 0: mov al, 0xFE; out 0x64, al (the i8042's reset pulse). vCPU 1: jmp $.
    let reset = temp_file("reset.bin", &[0xB0, 0xFE, 0xE6, 0x64, 0xEB, 0xFE]);
    let spin = temp_file("spin.bin", &[0xEB, 0xFE]);
    let r = run(&["--timeout", "10", &reset, &spin]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stderr, "", "ended by the reset, not by the 10 s --timeout (status 124)");
}

/// The line (and status 4) a paravirtual KVM gets for any --linux.
fn assert_refused_here(r: &Run) {
    assert_eq!(r.status, 4, "{}{}", r.stdout, r.stderr);
    assert_one_line(r, &["--linux", "paravirtual", "real-KVM lane"]);
    assert_eq!(r.stdout, "");
}

/// Where the host cannot boot Linux, it says so before the files are read: a 300 MiB initrd
/// (sparse: it costs no disk) that fits `--mem 1G` gets status 4 from a process that never grew
/// anywhere near its size. getrusage(RUSAGE_CHILDREN) is the largest RSS of any child this test
/// binary has waited for; on such a host every other child here is refused as early and stays
/// small too. (On a KVM that can boot Linux nothing is refused, so there is no order to see.)
#[test]
fn a_host_that_cannot_boot_linux_refuses_before_the_initrd_is_read() {
    if !host().paravirtual() {
        return;
    }
    let kernel = temp_file("tiny-large-initrd", &tiny_bzimage());
    let big = temp_file("large-initrd", b"");
    std::fs::File::options().write(true).open(&big).unwrap().set_len(300 << 20).unwrap();
    let r = run(&["--linux", &kernel, "--initrd", &big, "--mem", "1G"]);
    assert_refused_here(&r);
    let rss_kib = getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage works").max_rss();
    assert!(rss_kib < 50 * 1024, "a child reached {rss_kib} KiB");
}

#[test]
fn the_64_bit_entry_runs_and_cli_hlt_ends_the_run() {
    let kernel = temp_file("tiny-entry", &tiny_bzimage());
    let r = run(&["--linux", &kernel, "--mem", "32M"]);
    if host().paravirtual() {
        return assert_refused_here(&r);
    }
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert_eq!(r.stdout, "L");
    assert_eq!(r.stderr, "");
}

#[test]
fn the_32_bit_entry_runs_startup_32_with_paging_off() {
    let kernel = temp_file("tiny-entry32", &tiny_bzimage());
    let r = run(&["--linux", &kernel, "--linux-entry", "16"]);
    assert_eq!(r.status, 2, "{}", r.stderr);
    assert_one_line(&r, &["--linux-entry takes 32 or 64, not '16'"]);
    let r = run(&["--linux-entry", "32", "hello"]);
    assert_eq!(r.status, 2, "{}", r.stderr);
    let r = run(&["--linux", &kernel, "--mem", "32M", "--linux-entry", "32", "-v"]);
    if host().paravirtual() {
        return assert_refused_here(&run(&["--linux", &kernel, "--linux-entry", "32"]));
    }
    assert_eq!((r.status, r.stdout.as_str()), (0, "3"), "{}", r.stderr);
    assert!(
        r.stderr.contains("Linux: 32-bit entry startup_32 at 0x100000, paging off, ESI 0x7000"),
        "{}",
        r.stderr
    );
}

/// The default command line, quieter, and without the CMOS RTC driver: its probe polls the
/// absent chip's update-in-progress bit 10000 times (Debian 6.1's rtc-mc146818-lib), 20000
/// exits that cost some 20 s on the nested lane. The default boot, probe included, is the tour's
/// (docs/12-booting-linux.md, run by tests/docs.rs). `nowatchdog`: on a loaded lane a slow
/// stretch of boot is no soft lockup.
const CMDLINE: &str =
    "console=ttyS0 reboot=t pci=off quiet initcall_blacklist=cmos_init nowatchdog";

const BANNER: &str = "busybox sh follows";
/// The bound this test states for the whole boot, command and reboot on the lane.
const BOOT_LIMIT: Duration = Duration::from_secs(75);

#[test]
#[ignore = "boots Linux: needs the real-KVM lane's Debian kernel and busybox (tests/real-kvm/lane.sh)"]
fn linux_boots_to_a_shell_that_runs_a_command_and_reboots() {
    let kernel = lane_file("MINI_KVM_LINUX_KERNEL", "boot/vmlinuz-");
    let busybox = std::fs::read(lane_file("MINI_KVM_LINUX_BUSYBOX", "bin/busybox")).unwrap();
    let initrd = temp_file("initramfs.cpio", &initramfs(&busybox));
    let kernel = kernel.to_string_lossy().into_owned();
    let args = ["--linux", &kernel, "--initrd", &initrd, "--cmdline", CMDLINE, "--stats"];
    if host().paravirtual() {
        return assert_refused_here(&run(&args));
    }
    let started = Instant::now();
    let mut child = Command::new(MINI_KVM)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // A hang fails the test instead of stalling it: the child is killed at the bound.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    {
        let (id, done) = (child.id(), std::sync::Arc::clone(&done));
        std::thread::spawn(move || {
            std::thread::sleep(BOOT_LIMIT);
            if !done.load(std::sync::atomic::Ordering::SeqCst) {
                let _ = Command::new("kill").arg(id.to_string()).status();
            }
        });
    }
    let mut seen = String::new();
    read_until(&mut stdout, &mut seen, BANNER);
    let banner_at = started.elapsed();
    stdin.write_all(b"echo six-times-seven-is-$((6*7))\n").unwrap();
    read_until(&mut stdout, &mut seen, "six-times-seven-is-42");
    let command_at = started.elapsed();
    // With reboot=t, a triple fault (KVM_EXIT_SHUTDOWN), which ends mini-kvm as a reset does.
    stdin.write_all(b"reboot -f\n").unwrap();
    let mut rest = String::new();
    let _ = stdout.read_to_string(&mut rest);
    let status = child.wait().unwrap();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let mut stderr = String::new();
    let _ = child.stderr.take().unwrap().read_to_string(&mut stderr);
    let total = started.elapsed();
    eprintln!("linux: banner after {banner_at:?}, command output after {command_at:?}, ended after {total:?}");
    assert!(total < BOOT_LIMIT, "took {total:?}");
    assert_eq!(status.code(), Some(0), "stderr: {stderr}\nstdout: {seen}{rest}");
    let stem = std::path::Path::new(&kernel).file_stem().unwrap();
    assert_linux_stats(&stderr, &format!("vCPU 0 ({})", stem.to_string_lossy()));
    assert!(seen.contains("mini-kvm initramfs: Linux x86_64 is up"), "{seen}");
}

/// `--stats` after a Linux boot ended by `reboot -f`: stderr is nothing but the stats lines of
/// `who` (machine/report.rs `report`): the ports Linux probed that nothing answers, at least the i8042's
/// status port among them (Linux probes for a PS/2 controller), perhaps the MMIO line, then the
/// exit table, whose total is the sum of its rows and which holds the one triple fault.
/// How many exits of each kind a boot makes varies from run to run (timer ticks, kicks), so
/// those counts are only checked to be numbers.
fn assert_linux_stats(stderr: &str, who: &str) {
    let lines: Vec<&str> = stderr.lines().collect();
    let title = format!("mini-kvm stats: {who}");
    let table_at = lines
        .iter()
        .position(|l| *l == title)
        .unwrap_or_else(|| panic!("no {title:?} line in:\n{stderr}"));
    let unclaimed = format!("mini-kvm: {who}: unclaimed port 0x");
    let mmio = format!("mini-kvm: {who}: MMIO with no memory behind it: ");
    for line in &lines[..table_at] {
        let counts = if let Some(rest) = line.strip_prefix(&unclaimed) {
            let (port, rest) = rest.split_at(4.min(rest.len()));
            assert!(port.chars().all(|c| c.is_ascii_hexdigit()), "{line:?}");
            // The port's name when mini-kvm knows one: " (PS/2 i8042)".
            let rest = match rest.strip_prefix(" (") {
                Some(named) => named.split_once(')').map_or("", |(_, r)| r),
                None => rest,
            };
            rest.strip_prefix(": ").map(|r| (r, " reads (all ones), ", " writes (ignored)"))
        } else {
            line.strip_prefix(&mmio).map(|r| (r, " reads (all ones), ", " writes (dropped)"))
        };
        let well_formed = counts.is_some_and(|(rest, reads, writes)| {
            rest.split_once(reads).is_some_and(|(n, rest)| {
                is_count(n) && rest.strip_suffix(writes).is_some_and(is_count)
            })
        });
        assert!(well_formed, "not a stats line: {line:?} in:\n{stderr}");
    }
    let i8042 = format!("{unclaimed}0064 (PS/2 i8042): ");
    assert!(
        lines[..table_at].iter().any(|l| l.starts_with(&i8042)),
        "no {i8042:?} line in:\n{stderr}"
    );

    // "  KVM_EXIT_IO (out)   1234" rows, "  total   N", then "  wall ... ms, in KVM_RUN ...".
    let row = |line: &str| -> Option<(String, u64)> {
        let (label, n) = line.strip_prefix("  ")?.rsplit_once(' ')?;
        Some((label.trim_end().to_string(), n.parse().ok()?))
    };
    let table = &lines[table_at + 1..];
    let total_at = table
        .iter()
        .position(|l| row(l).is_some_and(|(label, _)| label == "total"))
        .unwrap_or_else(|| panic!("no total row in:\n{stderr}"));
    let rows: Vec<(String, u64)> = table[..total_at]
        .iter()
        .map(|l| row(l).unwrap_or_else(|| panic!("not a table row: {l:?} in:\n{stderr}")))
        .collect();
    for (label, _) in &rows {
        assert!(label.starts_with("KVM_EXIT_") || label == "other", "{label:?} in:\n{stderr}");
    }
    let total = row(table[total_at]).map(|(_, n)| n);
    assert_eq!(total, Some(rows.iter().map(|(_, n)| n).sum()), "{stderr}");
    assert!(
        rows.contains(&("KVM_EXIT_SHUTDOWN".to_string(), 1)),
        "reboot=t's one triple fault: {stderr}"
    );
    // With one vCPU COM1's output may go through the coalesced ring: two rows more.
    let rest = &table[total_at + 1..];
    let (ring, wall) = rest.split_at(rest.len().saturating_sub(1));
    for line in ring {
        assert!(
            line.starts_with("  coalesced writes (COM1) ") && line.ends_with(" (no exits)")
                || row(line).is_some_and(|(label, _)| label == "ring drains"),
            "{line:?} in:\n{stderr}"
        );
    }
    let wall = wall.first().copied().unwrap_or_default();
    assert!(
        wall.starts_with("  wall ")
            && wall.contains(" ms, in KVM_RUN ")
            && wall.contains(" ms, in mini-kvm "),
        "{wall:?} in:\n{stderr}"
    );
}

/// A decimal count, as `--stats` prints one.
fn is_count(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}
