//! The 1K OS on its virtio-blk disk (os-1k/virtio.c behind os-1k/block.c): files that one run
//! writes and the next reads (`--disk FILE`), a read-only disk, the boot log naming the
//! driver, a disk that a kill at any request leaves with every file old or new and mountable,
//! the disk used from two CPUs, and, under QEMU with no disk, the image linked into the kernel.
//!
//! The images are read on the host too, as os-1k/fs.h lays them out ([`mount`]), with the
//! checks the kernel's mount makes.

mod common;
use common::*;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// The disk image build.rs made: what a new disk starts as.
fn built_image() -> Vec<u8> {
    std::fs::read(env!("MINI_KVM_OS_1K_DISK")).unwrap()
}

/// A disk's files, by name.
type Files = BTreeMap<String, Vec<u8>>;

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Mounts an image as the kernel does (os-1k/fs.h; fs.c's fs_init): the superblock's magic,
/// version and layout, then every inode whose name is set: its name terminated, its size at
/// most 120 blocks, each block a data block that no other inode names. Any failure is the
/// reason the kernel would refuse or leave out an inode.
fn mount(image: &[u8]) -> Result<Files, String> {
    const SECTOR: usize = 512;
    const BLOCK: usize = 4096;
    let sb: Vec<u32> = (0..8).map(|i| le32(image, 4 * i)).collect();
    if sb != [0x53464B31, 1, 8192, 4096, 1024, 1, 64, 9] {
        return Err(format!("superblock {sb:x?}"));
    }
    let mut named = vec![false; 1024];
    let mut files = Files::new();
    for i in 0..64 {
        let inode = &image[BLOCK + i * SECTOR..BLOCK + (i + 1) * SECTOR];
        if inode[0] == 0 {
            continue;
        }
        let end = inode[..28].iter().position(|&b| b == 0).ok_or(format!("inode {i}: name"))?;
        let name = String::from_utf8_lossy(&inode[..end]).into_owned();
        let size = le32(inode, 28) as usize;
        if size > 120 * BLOCK {
            return Err(format!("{name}: size {size}"));
        }
        let mut data = Vec::with_capacity(size);
        for k in 0..size.div_ceil(BLOCK) {
            let b = le32(inode, 32 + 4 * k) as usize;
            if !(9..1024).contains(&b) || std::mem::replace(&mut named[b], true) {
                return Err(format!("{name}: block {b} outside the data or named twice"));
            }
            let take = (size - k * BLOCK).min(BLOCK);
            data.extend_from_slice(&image[b * BLOCK..b * BLOCK + take]);
        }
        if files.insert(name.clone(), data).is_some() {
            return Err(format!("{name}: two inodes"));
        }
    }
    Ok(files)
}

/// Runs the OS on `disk` with `input`; asserts a clean power-off and returns stdout.
fn os_on(disk: &str, input: &str) -> String {
    let r = run_with(&["--disk", disk, "os-1k"], input.as_bytes(), &[], HANG_GUARD);
    assert_eq!((r.status, r.stderr.as_str()), (0, ""), "{}", r.stdout);
    r.stdout
}

/// What the shell printed for `command`, up to the next prompt.
fn answer<'a>(out: &'a str, command: &str) -> &'a str {
    let start = out.find(&format!("$ {command}\n")).unwrap_or_else(|| panic!("{command}:\n{out}"))
        + command.len()
        + 3;
    let rest = &out[start..];
    &rest[..rest.find("$ ").unwrap_or(rest.len())]
}

/// The boot log's line for the file system on `disk`: the built image's files and blocks.
fn mounted(disk: &str) -> String {
    let files = mount(&built_image()).unwrap();
    let kib: usize = files.values().map(|f| f.len().div_ceil(4096) * 4).sum();
    format!("File system: {} files, {kib} KiB of 4060 KiB in use, on {disk}\n", files.len())
}

#[test]
fn the_boot_log_names_the_virtio_disk_and_its_interrupt() {
    let r = run_with(&["os-1k"], b"0\n", &[], HANG_GUARD);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let at = r.stdout.find("Disk: ").expect("a Disk line");
    let lines: String = r.stdout[at..].lines().take(2).map(|l| format!("{l}\n")).collect();
    let disk =
        "Disk: virtio-blk at 0xd0000000, 8192 sectors, read-write, FLUSH; IRQ 5 -> vector 0x25\n";
    assert_eq!(lines, format!("{disk}{}", mounted("the virtio-blk disk")));
}

#[test]
fn what_one_run_writes_the_next_run_reads() {
    let s = Scratch::new("persist");
    let disk = s.path("os.img");
    let first = os_on(
        &disk,
        "echo one > a\necho two >> a\necho gone > b\nrm b\ncat shell > c\necho short > c\n\
         echo x > d\necho longer >> d\n0\n",
    );
    assert_eq!(answer(&first, "rm b"), "");
    // The second run: a new boot from the image the first left.
    let second = os_on(&disk, "cat a\nls a b c d\ncat c\ncat d\n0\n");
    assert_eq!(answer(&second, "cat a"), "one\ntwo\n");
    assert_eq!(
        answer(&second, "ls a b c d"),
        "a                   8\nc                   6\nd                   9\nls: b: no such file\n"
    );
    assert_eq!(answer(&second, "cat c"), "short\n");
    assert_eq!(answer(&second, "cat d"), "x\nlonger\n");

    // The host reads the same files in the image.
    let files = mount(&std::fs::read(&disk).unwrap()).unwrap();
    assert_eq!(files["a"], b"one\ntwo\n");
    assert_eq!(files["c"], b"short\n");
    assert!(!files.contains_key("b"));
    let built = mount(&built_image()).unwrap();
    assert_eq!(files.len(), built.len() + 3);
    for (name, data) in &built {
        assert_eq!(files.get(name), Some(data), "{name} unchanged");
    }
}

#[test]
fn a_read_only_disk_boots_and_refuses_every_write() {
    let s = Scratch::new("ro");
    let disk = s.path("os.img");
    std::fs::write(&disk, built_image()).unwrap();
    let ro = format!("{disk},ro");
    let out = os_on(&ro, "echo x > f\nrm motd\ncat motd\n0\n");
    assert!(
        out.contains(
            "Disk: virtio-blk at 0xd0000000, 8192 sectors, read-only, FLUSH; IRQ 5 -> vector 0x25\n"
        ),
        "{out}"
    );
    assert_eq!(answer(&out, "echo x > f"), "sh: f: read-only file system\n");
    assert_eq!(answer(&out, "rm motd"), "rm: motd: read-only file system\n");
    assert!(answer(&out, "cat motd").starts_with("Welcome"), "{out}");
    assert!(std::fs::read(&disk).unwrap() == built_image(), "the image is not written");
}

/// One file operation of the crash test's workload (os-1k/user/fileops.c's language).
enum Op {
    New(&'static str),
    Put(&'static str, usize, usize, u8),
    Add(&'static str, usize, u8),
    Cut(&'static str),
    Rm(&'static str),
}

/// Create, write, append past a block, overwrite the middle, truncate, unlink, reuse the
/// freed blocks, grow a file of the image: each kind of commit, with writes of one and of
/// several calls.
const WORKLOAD: &[Op] = &[
    Op::New("one"),
    Op::Put("one", 0, 100, 1),
    Op::Add("one", 5000, 2),
    Op::Put("one", 50, 200, 3),
    Op::New("two"),
    Op::Put("two", 0, 4096, 4),
    Op::Add("two", 9000, 5),
    Op::Cut("one"),
    Op::Add("one", 10, 6),
    Op::Rm("two"),
    Op::Add("readme.txt", 30, 7),
    Op::Rm("motd"),
    Op::New("three"),
    Op::Add("three", 4096, 8),
    Op::Put("three", 1000, 3500, 9),
];

impl Op {
    fn line(&self) -> String {
        match self {
            Op::New(f) => format!("new {f}"),
            Op::Put(f, off, len, seed) => format!("put {f} {off} {len} {seed}"),
            Op::Add(f, len, seed) => format!("add {f} {len} {seed}"),
            Op::Cut(f) => format!("cut {f}"),
            Op::Rm(f) => format!("rm {f}"),
        }
    }
}

/// fileops.c's bytes for a put or an add.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (seed as usize * 31 + i * 7 + i / 251) as u8).collect()
}

/// The states the files go through: the first, then one after each system call that changes
/// them (a write takes at most 4 KiB, FS_WRITE_MAX: a longer one is several calls).
fn states(first: &Files) -> Vec<Files> {
    let mut all = vec![first.clone()];
    let mut now = first.clone();
    for op in WORKLOAD {
        let (name, at, data) = match *op {
            Op::New(f) | Op::Cut(f) => {
                now.insert(f.to_string(), Vec::new());
                all.push(now.clone());
                continue;
            }
            Op::Rm(f) => {
                now.remove(f);
                all.push(now.clone());
                continue;
            }
            Op::Put(f, off, len, seed) => (f, Some(off), pattern(len, seed)),
            Op::Add(f, len, seed) => (f, None, pattern(len, seed)),
        };
        let mut at = at.unwrap_or(now[name].len());
        for chunk in data.chunks(4096) {
            let file = now.get_mut(name).unwrap();
            if file.len() < at + chunk.len() {
                file.resize(at + chunk.len(), 0);
            }
            file[at..at + chunk.len()].copy_from_slice(chunk);
            at += chunk.len();
            all.push(now.clone());
        }
    }
    all
}

/// The workload as the shell's input: fileops reads the operations, then the shell ends.
fn workload_input() -> String {
    let ops: String = WORKLOAD.iter().map(|op| op.line() + "\n").collect();
    format!("fileops\n{ops}end\n0\n")
}

#[test]
fn killed_after_any_request_each_file_is_old_or_new_and_the_disk_mounts() {
    let s = Scratch::new("crash");
    let first = mount(&built_image()).unwrap();
    let states = states(&first);
    let input = workload_input();
    // The whole workload once, traced: which requests it makes.
    let disk = s.path("whole.img");
    let r =
        run_with(&["--trace=virtio", "--disk", &disk, "os-1k"], input.as_bytes(), &[], HANG_GUARD);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(!r.stdout.contains("fileops:"), "the workload failed:\n{}", r.stdout);
    assert_eq!(mount(&std::fs::read(&disk).unwrap()).unwrap(), *states.last().unwrap());
    let numbers = |kind: &str| -> Vec<u64> {
        r.stderr
            .lines()
            .filter(|l| l.contains(kind))
            .filter_map(|l| l.strip_prefix("[disk] #")?.split(' ').next()?.parse().ok())
            .collect()
    };
    let (writes, all) = (numbers("VIRTIO_BLK_T_OUT"), numbers("VIRTIO_BLK_T_"));
    let (first_write, last) = (writes[0], *all.last().unwrap());
    // Killed after the k-th request, for every k from just before the first write to the last.
    let mut seen = 0;
    for (n, k) in (first_write - 1..=last).enumerate() {
        let disk = s.path(&format!("k{k}.img"));
        let k_text = k.to_string();
        let envs = [("MINI_KVM_TEST_KILL_AFTER_REQUESTS", k_text.as_str())];
        let r = run_with(&["--disk", &disk, "os-1k"], input.as_bytes(), &envs, HANG_GUARD);
        assert_eq!((r.status, r.stderr.as_str()), (-1, ""), "k={k}: ended by SIGKILL");
        let files = mount(&std::fs::read(&disk).unwrap())
            .unwrap_or_else(|e| panic!("k={k}: the disk does not mount: {e}"));
        // Every file is as one of the calls left it: the disk is one of the states, and no
        // earlier one than a kill after fewer requests left.
        let at = states[seen..].iter().position(|st| *st == files).unwrap_or_else(|| {
            panic!("k={k}: the files are in no state the workload went through: {files:?}")
        });
        seen += at;
        // Some of them mounted by the OS itself: it finds the same files, none damaged.
        if n % 8 == 0 {
            let out = os_on(&disk, "ls\n0\n");
            assert!(!out.contains("damaged"), "k={k}: {out}");
            let ls = answer(&out, "ls");
            for (name, data) in &files {
                let line = format!("{name:<14} {:>6}", data.len());
                assert!(ls.lines().any(|l| l == line), "k={k}: {line:?} in\n{ls}");
            }
            assert_eq!(ls.lines().count(), files.len(), "k={k}: {ls}");
        }
        std::fs::remove_file(&disk).unwrap();
    }
    assert_eq!(seen, states.len() - 1, "the last kill point leaves the last state");
}

/// A mini-kvm run driven by what it prints, with its stderr in a file read as it grows.
struct Session {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: std::process::ChildStdout,
    seen: String,
    stderr: PathBuf,
}

impl Session {
    /// Types `line` at the prompt and reads until the prompt after its answer.
    fn command(&mut self, line: &str) -> String {
        self.input.write_all(format!("{line}\n").as_bytes()).unwrap();
        let start = self.seen.len().saturating_sub("$ ".len()); // the prompt it answers
        let mut buf = [0u8; 4096];
        while !self.seen[start..].contains(&format!("$ {line}\n"))
            || !self.seen[start..].split(&format!("$ {line}\n")).nth(1).unwrap().contains("$ ")
        {
            let n = self.output.read(&mut buf).unwrap_or(0);
            assert!(n > 0, "the run ended:\n{}", self.seen);
            self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        answer(&self.seen[start..], line).to_string()
    }
}

/// Lines of the run's stderr (`--trace`) from vCPU `cpu` that contain `what`.
fn traced(s: &Session, cpu: usize, what: &str) -> usize {
    let trace = std::fs::read_to_string(&s.stderr).unwrap();
    let tag = format!("[{cpu}] ");
    trace.lines().filter(|l| l.starts_with(&tag) && l.contains(what)).count()
}

#[test]
fn two_cpus_both_send_requests_and_the_interrupt_comes_through_the_io_apic() {
    if host().is("ap-start", "no") {
        return assert_eq!(run(&["--cpus", "2", "os-1k"]).status, 4);
    }
    let s = Scratch::new("smp");
    let stderr = s.0.join("stderr");
    // Without KVM_IOEVENTFD each queue notify is an MMIO exit, which --trace=mmio shows with
    // the vCPU that made it: the CPU that sent the request. The OS reads InterruptStatus only
    // in its IRQ 5 handler, so the reads of that register show where the interrupt arrived.
    let mut child = Command::new(MINI_KVM)
        .args(["--timeout", "120", "--cpus", "2", "--trace=mmio,virtio", "--disk"])
        .args([&s.path("os.img"), "os-1k"])
        .env("MINI_KVM_TEST_DISK_FALLBACK", "1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .expect("mini-kvm starts");
    let input = child.stdin.take().unwrap();
    let output = child.stdout.take().unwrap();
    let mut session = Session { child, input, output, seen: String::new(), stderr };
    let (notify, interrupt_status) = ("write 0xd0000050", "read 0xd0000060");
    // Two programs at once, each writing and reading back its own file: the second CPU takes
    // one at its next tick. Again until each CPU has sent requests, a bounded number of times.
    // Each read sleeps until the interrupt handler finds the used ring changed: a lost
    // interrupt is a run that never ends.
    let mut rounds = 0;
    while rounds < 10
        && (rounds == 0 || traced(&session, 0, notify) == 0 || traced(&session, 1, notify) == 0)
    {
        let out = session.command("disktest 64 a & disktest 64 b; wait");
        for name in ["a", "b"] {
            let line =
                format!("disktest: 64 KiB in 1 file ({name}.0), written and read back: the same\n");
            assert!(out.contains(&line), "{out}");
        }
        rounds += 1;
    }
    assert!(
        traced(&session, 0, notify) > 0 && traced(&session, 1, notify) > 0,
        "one CPU sent every request"
    );
    // The line goes through the I/O APIC to CPU 0, and only there.
    let disk = "Disk: virtio-blk at 0xd0000000, 8192 sectors, read-write, FLUSH; \
                IRQ 5 -> IOAPIC -> vector 0x25 on CPU 0\n";
    assert!(session.seen.contains(disk), "{}", session.seen);
    assert!(traced(&session, 0, interrupt_status) > 0, "the handler ran on CPU 0");
    assert_eq!(traced(&session, 1, interrupt_status), 0, "the handler ran on CPU 1");
    assert_eq!(session.command("ls a.0 b.0"), "a.0             65536\nb.0             65536\n");
    session.input.write_all(b"0\n").unwrap();
    let status = session.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let files = mount(&std::fs::read(s.path("os.img")).unwrap()).unwrap();
    assert_eq!(files["a.0"].len(), 65536);
}

#[test]
#[ignore = "needs qemu-system-x86_64: `make test` installs it and runs this (or: cargo test -- --include-ignored)"]
fn under_qemu_with_no_disk_the_linked_image_is_read_only() {
    let mut qemu = Interactive::qemu("1");
    let boot = qemu.seen().to_string();
    for line in [
        "Disk: no virtio-blk device at 0xd0000000\n".to_string(),
        mounted("the image linked into the kernel (read-only)"),
    ] {
        assert!(boot.contains(&line), "{line:?} in\n{boot}");
    }
    assert_eq!(qemu.command("echo x > f"), "sh: f: read-only file system\n");
    assert_eq!(qemu.command("wc readme.txt"), "5 71 349 readme.txt\n");
    qemu.send("0\n");
    assert!(qemu.finish().ends_with("Thank you for using 1K OS!\n"));
}

#[test]
fn the_trace_shows_each_request_with_its_chain() {
    let r = run_with(&["--trace=virtio", "os-1k"], b"0\n", &[], HANG_GUARD);
    assert_eq!(r.status, 0, "{}", r.stderr);
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert!(lines[0].starts_with("[disk] queue 0 ready: 8 descriptors at 0x"), "{}", r.stderr);
    // The first request: the superblock, sector 0, into a buffer the device writes.
    let first: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(first[..2], ["[disk]", "#1"], "{}", lines[1]);
    assert_eq!(first[3..8], ["VIRTIO_BLK_T_IN", "sector", "0,", "512", "bytes"], "{}", lines[1]);
    assert_eq!(first[8..11], ["S_OK", "head", "0:"], "{}", lines[1]);
    assert!(lines[1].ends_with("+1 W; used 513"), "{}", lines[1]);
    // Booting, the OS polls the used ring and asks for no interrupt: none is raised.
    assert!(!r.stderr.contains("[disk] irq"), "{}", r.stderr);
    assert!(lines.iter().skip(1).all(|l| l.starts_with("[disk] #")), "{}", r.stderr);
}
