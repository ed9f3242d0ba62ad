//! Hostile input: random real- and long-mode code, from one byte to past the largest guest
//! a mode takes, several guests at once, guests aimed at the devices, mutated Multiboot
//! kernels, Linux bzImages cut at every length and with every setup-header field swept, initrds
//! of every size, bad command lines, gdb clients that send random packets, flood, hang up
//! and come back, and a hostile virtio-blk driver (the virtqueue fuzzer: its image keeps its
//! size, and its bytes when read-only). Whatever they do, every run must end within its bound, with a documented
//! exit status, at most the one stderr line that status calls for (gdb clients add their own
//! `mini-kvm: gdb:` lines), no panic, and at most [`RSS_BOUND_KIB`] resident (wait4's peak
//! RSS of that run: guest RAM costs only what a guest writes, and none here writes more than a
//! few MiB). A slow reader of stdout gets every byte a guest writes, in order.
//!
//! Deterministic: every case comes from a seeded xorshift generator written here, so a failure
//! names its seed and reproduces. `make fuzz` runs the same generators with fresh seeds for as
//! long as `FUZZ_SECONDS` says (the `fuzz_for_a_while` test, ignored in `make test`).

mod common;
mod gdb_common;
mod hostile_gen;

use common::{try_wait_rss, Scratch, HANG_GUARD};
use hostile_gen::{devices, mutate, random_code, tiny_kernel, virtqueue, Rng};

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

const MINI_KVM: &str = env!("CARGO_BIN_EXE_mini-kvm");

// A run that takes longer than HANG_GUARD hangs (the guests themselves get `--timeout 0.05`).

/// What stdin a case gets.
#[derive(Clone, Copy)]
enum Input {
    Null,
    /// An endless supply of zero bytes (GETCHAR never sees the end).
    Zero,
    Bytes(&'static [u8]),
}

struct Case {
    what: String,
    args: Vec<String>,
    input: Input,
    /// Guests run at once: each vCPU that faults has its line.
    vcpus: usize,
    /// Statuses that are not acceptable for this case, besides the general rules.
    expect: Expect,
    envs: Vec<(&'static str, &'static str)>,
    /// The case's `--disk` image (path, bytes before the run, read-only): afterwards it has
    /// the same size, and the same bytes if read-only.
    disk: Option<(String, Vec<u8>, bool)>,
}

enum Expect {
    /// A guest: any status it may choose, or one of mini-kvm's.
    Guest,
    /// Exactly this status.
    Status(i32),
}

/// mini-kvm's own statuses: each comes with exactly one stderr line.
const MINI_KVM_STATUSES: [i32; 7] = [1, 2, 3, 4, 5, 124, 130];

/// The most any run here may hold resident (wait4's ru_maxrss), in KiB: a debug build of
/// mini-kvm is about 3 MiB, a guest adds what it writes (a long-mode guest, 4 MiB at most), and
/// nothing a guest or a client sends may make mini-kvm keep more.
pub const RSS_BOUND_KIB: i64 = 32 * 1024;

/// The largest peak RSS of any run so far, in KiB (reported, for the bound's margin).
static MAX_RSS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Runs one case and checks the general rules; returns the status.
#[allow(clippy::zombie_processes)] // reaped by wait4 (try_wait_rss)
fn check(case: &Case) -> i32 {
    let mut cmd = Command::new(MINI_KVM);
    cmd.args(&case.args).envs(case.envs.iter().copied());
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    match case.input {
        Input::Null | Input::Bytes(_) => cmd.stdin(Stdio::piped()),
        Input::Zero => cmd.stdin(std::fs::File::open("/dev/zero").expect("/dev/zero")),
    };
    let started = Instant::now();
    let mut child = cmd.spawn().expect("mini-kvm starts");
    if let Some(mut stdin) = child.stdin.take() {
        if let Input::Bytes(bytes) = case.input {
            let _ = stdin.write_all(bytes);
        }
    }
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let out = std::thread::spawn(move || {
        let mut sink = [0u8; 65536];
        while matches!(out.read(&mut sink), Ok(n) if n > 0) {}
    });
    let err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        String::from_utf8_lossy(&s).into_owned()
    });
    let (code, rss) = loop {
        if let Some(ended) = try_wait_rss(&child) {
            break ended;
        }
        if started.elapsed() > HANG_GUARD {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{}: still running after {HANG_GUARD:?}", case.what);
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let _ = out.join();
    let stderr = err.join().unwrap_or_default();
    assert!(code >= 0, "{}: killed by a signal: {stderr}", case.what);
    assert!(!stderr.contains("panicked"), "{}: mini-kvm panicked: {stderr}", case.what);
    assert!(
        rss < RSS_BOUND_KIB,
        "{}: peak RSS {rss} KiB, over the bound of {RSS_BOUND_KIB} KiB",
        case.what
    );
    MAX_RSS.fetch_max(rss, Ordering::Relaxed);
    // A fault's one line may be followed by its explanation, indented (fault.rs).
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("  ")).collect();
    if MINI_KVM_STATUSES.contains(&code) {
        // One line says why, or one per vCPU that faulted (several guests may fault at once).
        // A timeout may add the line of a guest that faulted in the same instant the deadline
        // passed (both are true, and both are told).
        let faults = if code == 5 { case.vcpus } else { 1 };
        let allowed = if code == 124 { 1..=1 + case.vcpus } else { 1..=faults };
        assert!(
            allowed.contains(&lines.len()) && lines.iter().all(|l| l.starts_with("mini-kvm: ")),
            "{}: status {code} wants one 'mini-kvm: ' line, got {stderr:?}",
            case.what
        );
    } else {
        assert!(
            lines.is_empty(),
            "{}: status {code} (the guest's own) with stderr {stderr:?}",
            case.what
        );
    }
    if let Expect::Status(want) = case.expect {
        assert_eq!(code, want, "{}: {stderr}", case.what);
    }
    if let Some((path, before, read_only)) = &case.disk {
        let after = std::fs::read(path).expect("the disk image");
        assert_eq!(after.len(), before.len(), "{}: nothing is written past the image", case.what);
        assert!(!read_only || after == *before, "{}: a read-only image was written", case.what);
    }
    code
}

/// Runs cases on a few threads (the machine has two cores; a guest waits for KVM a lot).
fn check_all(cases: Vec<Case>) {
    let next = AtomicUsize::new(0);
    let cases = &cases;
    let failures = Mutex::new(Vec::new());
    let statuses = Mutex::new(std::collections::BTreeMap::<i32, usize>::new());
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(case) = cases.get(i) else { return };
                let result = std::panic::catch_unwind(|| check(case));
                if let Ok(code) = result {
                    *statuses.lock().unwrap().entry(code).or_default() += 1;
                }
                if let Err(e) = result {
                    let why = e
                        .downcast_ref::<String>()
                        .cloned()
                        .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                        .unwrap_or_default();
                    failures.lock().unwrap().push(why);
                }
            });
        }
    });
    eprintln!(
        "exit statuses (status: runs): {:?}; largest peak RSS so far {} KiB",
        statuses.into_inner().unwrap(),
        MAX_RSS.load(Ordering::Relaxed)
    );
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

fn guest_case(what: String, args: Vec<String>, input: Input) -> Case {
    Case { what, args, input, vcpus: 1, expect: Expect::Guest, envs: Vec::new(), disk: None }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// How many cases of each kind one seed range has.
#[derive(Clone, Copy)]
struct Counts {
    real: u64,
    long: u64,
    attacks: u64,
    kernels: u64,
    /// Real-mode guests past ~200 bytes, up to and past the 256 KiB slot.
    large_real: u64,
    /// Long-mode guests up to and past 4 MiB less 84 KiB.
    large_long: u64,
    /// Two to four random guests at once.
    several: u64,
    /// bzImages with a setup-header field swept, and initrds, --mem and --cmdline around them.
    bzimages: u64,
    /// The virtqueue fuzzer: scripts for the hostile virtio-blk driver, each with a disk.
    disks: u64,
}

impl Counts {
    /// 1/`share` of each kind (at least one).
    fn share(self, share: u64) -> Counts {
        let part = |n: u64| (n / share).max(1);
        Counts {
            real: part(self.real),
            long: part(self.long),
            attacks: part(self.attacks),
            kernels: part(self.kernels),
            large_real: part(self.large_real),
            large_long: part(self.large_long),
            several: part(self.several),
            bzimages: part(self.bzimages),
            disks: part(self.disks),
        }
    }
}

/// The largest flat guest (its slot) and long-mode guest (4 MiB less 84 KiB), docs/reference.md
/// "Limits".
const REAL_LIMIT: usize = 256 << 10;
const LONG_LIMIT: usize = (4 << 20) - (84 << 10);

/// The cases of one seed range: `n` of each kind.
fn generate(scratch: &Scratch, first_seed: u64, n: Counts) -> Vec<Case> {
    let Counts { real, long, attacks, kernels, .. } = n;
    let timeout = ["--timeout", "0.05"];
    let mut cases = Vec::new();
    for seed in first_seed..first_seed + real {
        let mut rng = Rng::new(seed);
        let g = scratch.file(&format!("real-{seed}.bin"), &random_code(&mut rng));
        let mut args = strings(&timeout);
        args.push(g);
        cases.push(guest_case(format!("random real-mode guest, seed {seed}"), args, Input::Null));
    }
    for seed in first_seed..first_seed + long {
        let mut rng = Rng::new(seed ^ 0x10_0000);
        let g = scratch.file(&format!("long-{seed}.bin"), &random_code(&mut rng));
        let mut args = strings(&timeout);
        args.extend(["--long-mode".to_string(), g]);
        cases.push(guest_case(format!("random long-mode guest, seed {seed}"), args, Input::Null));
    }
    for seed in first_seed..first_seed + attacks {
        let mut rng = Rng::new(seed ^ 0x20_0000);
        let g = scratch.file(&format!("attack-{seed}.bin"), &devices::attack(&mut rng));
        let mut args = strings(&timeout);
        args.push(g);
        let input = rng.pick(&[Input::Null, Input::Zero, Input::Bytes(b"hello\n")]);
        cases.push(guest_case(format!("device attack, seed {seed}"), args, input));
    }
    let os_1k = std::fs::read(env!("MINI_KVM_OS_1K_IMAGE")).expect("the 1K OS image");
    let tiny = tiny_kernel();
    for seed in first_seed..first_seed + kernels {
        let mut rng = Rng::new(seed ^ 0x30_0000);
        let base: &[u8] = if seed % 2 == 0 { &tiny } else { &os_1k };
        let g = scratch.file(&format!("kernel-{seed}.elf"), &mutate(&mut rng, base));
        let args = strings(&["--timeout", "0.3", &g]);
        cases.push(guest_case(format!("mutated Multiboot kernel, seed {seed}"), args, Input::Null));
    }
    for seed in first_seed..first_seed + n.large_real {
        let mut rng = Rng::new(seed ^ 0x40_0000);
        let code = hostile_gen::large_code(&mut rng, REAL_LIMIT);
        let g = scratch.file(&format!("large-real-{seed}.bin"), &code);
        let mut args = strings(&timeout);
        args.push(g);
        cases.push(guest_case(
            format!("real-mode guest of {} bytes, seed {seed}", code.len()),
            args,
            Input::Null,
        ));
    }
    for seed in first_seed..first_seed + n.large_long {
        let mut rng = Rng::new(seed ^ 0x50_0000);
        let code = hostile_gen::large_code(&mut rng, LONG_LIMIT);
        let g = scratch.file(&format!("large-long-{seed}.bin"), &code);
        let mut args = strings(&timeout);
        args.extend(["--long-mode".to_string(), g]);
        cases.push(guest_case(
            format!("long-mode guest of {} bytes, seed {seed}", code.len()),
            args,
            Input::Null,
        ));
    }
    for seed in first_seed..first_seed + n.several {
        let mut rng = Rng::new(seed ^ 0x60_0000);
        let mut args = strings(&timeout);
        for i in 0..2 + rng.below(3) {
            let code =
                if rng.below(3) == 0 { devices::attack(&mut rng) } else { random_code(&mut rng) };
            args.push(scratch.file(&format!("several-{seed}-{i}.bin"), &code));
        }
        let input = rng.pick(&[Input::Null, Input::Zero, Input::Bytes(b"hello\n")]);
        let vcpus = args.len() - 2;
        cases.push(Case {
            vcpus,
            ..guest_case(format!("{vcpus} guests at once, seed {seed}"), args, input)
        });
    }
    for seed in first_seed..first_seed + n.bzimages {
        cases.push(bzimage_case(scratch, seed));
    }
    let template = std::fs::read(common::test_guest("disk_fuzz")).expect("the fuzzer's driver");
    for seed in first_seed..first_seed + n.disks {
        let mut rng = Rng::new(seed ^ 0x80_0000);
        let c = virtqueue::case(&mut rng, &template);
        let kernel = scratch.file(&format!("disk-fuzz-{seed}.bin"), &c.kernel);
        let disk = scratch.file(&format!("disk-{seed}.img"), &c.disk);
        let arg = if c.read_only { format!("{disk},ro") } else { disk.clone() };
        let args = strings(&["--timeout", "1", "--disk", &arg, &kernel]);
        let mut case = guest_case(format!("virtqueue fuzzer, seed {seed}"), args, Input::Null);
        if c.fallback {
            case.envs.push(("MINI_KVM_TEST_DISK_FALLBACK", "1"));
        }
        case.disk = Some((disk, c.disk, c.read_only));
        cases.push(case);
    }
    cases
}

/// A bzImage with one setup-header field set to an edge value (relocatable or not), booted
/// with an initrd of some size, some --mem and some --cmdline, or none.
fn bzimage_case(scratch: &Scratch, seed: u64) -> Case {
    let mut rng = Rng::new(seed ^ 0x70_0000);
    let (name, at, width) = rng.pick(&hostile_gen::BZIMAGE_FIELDS);
    let value = hostile_gen::edge_value(&mut rng, width);
    let relocatable = rng.below(2) == 0;
    let image = hostile_gen::bzimage_with(at, width, value, relocatable);
    let kernel = scratch.file(&format!("bzimage-{seed}"), &image);
    let mut args = strings(&["--timeout", "1", "--linux", &kernel]);
    if rng.below(2) == 0 {
        let path = scratch.0.join(format!("initrd-{seed}"));
        let size = rng.pick(&[0u64, 1, 4096, 64 << 20, 2 << 30, 3 << 30, 1 << 40]);
        // Sparse: only its size is ever looked at before the checks pass.
        std::fs::File::create(&path).unwrap().set_len(size).unwrap();
        args.extend(["--initrd".to_string(), path.to_string_lossy().into_owned()]);
    }
    if rng.below(2) == 0 {
        let mem = rng.pick(&["2M", "3M", "64M", "256M", "3G", "4G"]);
        args.extend(["--mem".to_string(), mem.to_string()]);
    }
    if rng.below(3) == 0 {
        let len = rng.pick(&[0usize, 1, 49, 2047, 2048, 4096]);
        args.extend(["--cmdline".to_string(), "x".repeat(len)]);
    }
    guest_case(
        format!(
            "bzImage with {name} = {value:#x}{}, seed {seed}: {:.200?}",
            if relocatable { ", relocatable" } else { "" },
            &args[2..]
        ),
        args,
        Input::Null,
    )
}

/// Every setup-header field of the tiny bzImage at every edge value, relocatable or not.
fn bzimage_sweep(scratch: &Scratch) -> Vec<Case> {
    let mut cases = Vec::new();
    for (name, at, width) in hostile_gen::BZIMAGE_FIELDS {
        for value in hostile_gen::edge_values(width) {
            for relocatable in [false, true] {
                let image = hostile_gen::bzimage_with(at, width, value, relocatable);
                let file = format!("sweep-{name}-{value:x}-{relocatable}");
                let kernel = scratch.file(&file, &image);
                cases.push(guest_case(
                    format!("bzImage with {name} = {value:#x}, relocatable {relocatable}"),
                    strings(&["--timeout", "1", "--linux", &kernel]),
                    Input::Null,
                ));
            }
        }
    }
    cases
}

/// The tiny bzImage cut at every length through the setup header and into the code.
fn bzimage_truncations(scratch: &Scratch) -> Vec<Case> {
    let image = hostile_gen::tiny_bzimage();
    let lengths = (0..=0x280).chain([0x3FF, 0x400, 0x5FF, 0x600, 0x601, 0x605, image.len()]);
    lengths
        .map(|len| {
            let kernel = scratch.file(&format!("cut-{len}"), &image[..len]);
            guest_case(
                format!("bzImage cut to {len} bytes"),
                strings(&["--timeout", "1", "--linux", &kernel]),
                Input::Null,
            )
        })
        .collect()
}

#[test]
fn random_guests_device_attacks_and_mutated_kernels_end_cleanly() {
    let scratch = Scratch::new("hostile");
    let started = Instant::now();
    // HOSTILE_SHARE=N runs the first 1/N of each kind of case: the real-KVM lane, where every
    // run costs ten times more, uses 3 (the same seeds, so its cases are a subset of these).
    let share = std::env::var("HOSTILE_SHARE")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1);
    let counts = Counts {
        real: 200,
        long: 100,
        attacks: 60,
        kernels: 100,
        large_real: 20,
        large_long: 8,
        several: 40,
        bzimages: 100,
        disks: 60,
    };
    let mut cases = generate(&scratch, 1, counts.share(share));
    // Every length of a bzImage up to past its setup header, every header field at its edges
    // (a share of them where runs cost more: on a real KVM the valid ones boot).
    cases.extend(bzimage_truncations(&scratch).into_iter().step_by(share as usize));
    cases.extend(bzimage_sweep(&scratch).into_iter().step_by(share as usize));
    let fixed = [
        ("GETCHAR from /dev/zero", &devices::GETCHAR_LOOP[..], Input::Zero),
        ("UART loopback flood", &devices::LOOPBACK_FLOOD[..], Input::Null),
    ];
    for (what, code, input) in fixed {
        let g = scratch.file(&format!("{}.bin", what.replace([' ', '/'], "_")), code);
        let case = Case {
            what: what.into(),
            args: strings(&["--timeout", "0.2", &g]),
            input,
            vcpus: 1,
            expect: Expect::Status(124),
            envs: Vec::new(),
            disk: None,
        };
        cases.push(case);
    }
    let n = cases.len();
    check_all(cases);
    eprintln!("{n} hostile runs in {:?}", started.elapsed());
}

/// Runs `args` with stdout read by a slow reader: reads of a random size with a random pause
/// after each (seeded), at most a few ms; returns (status, stdout, stderr, peak RSS).
#[allow(clippy::zombie_processes)] // reaped by wait4 (try_wait_rss)
fn run_read_slowly(args: &[String], seed: u64) -> (i32, String, String, i64) {
    let mut child = Command::new(MINI_KVM)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mini-kvm starts");
    let mut out = child.stdout.take().expect("piped");
    let mut err = child.stderr.take().expect("piped");
    let reader = std::thread::spawn(move || {
        let mut rng = Rng::new(seed);
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let want = 1 + rng.below(buf.len() as u64) as usize;
            match out.read(&mut buf[..want]) {
                Ok(0) | Err(_) => break,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            // The slowness under test: the guest must wait for the reader, not lose bytes.
            std::thread::sleep(Duration::from_micros(rng.below(3000)));
        }
        got
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let started = Instant::now();
    let (code, rss) = loop {
        if let Some(ended) = try_wait_rss(&child) {
            break ended;
        }
        if started.elapsed() > HANG_GUARD {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{args:?}: still running after {HANG_GUARD:?}");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stdout = String::from_utf8_lossy(&reader.join().unwrap()).into_owned();
    (code, stdout, err.join().unwrap(), rss)
}

#[test]
fn a_slow_reader_gets_every_byte_in_order() {
    // More than a pipe's 64 KiB and a vCPU's 4 KiB buffer, so the guest must wait for the
    // reader (docs/reference.md, "Limits"): 2,200 lines of 32 bytes, through PUTCHAR and
    // through COM1's THR (coalesced where the host can), alone and with two guests at once,
    // whose lines are told apart by their "[N] " prefixes and must each come whole and in
    // order.
    let scratch = Scratch::new("slow-reader");
    const LINES: u16 = 2200;
    let putchar = scratch.file("pattern.bin", &hostile_gen::pattern_guest(LINES));
    let uart = scratch.file("pattern-uart.bin", &hostile_gen::pattern_guest_uart(LINES));
    let expected = hostile_gen::pattern_output(LINES);
    for (seed, guest) in [(1, &putchar), (2, &uart)] {
        let (code, stdout, stderr, rss) = run_read_slowly(std::slice::from_ref(guest), seed);
        assert_eq!((code, stderr.as_str()), (0, ""), "{guest}");
        assert!(rss < RSS_BOUND_KIB, "{guest}: peak RSS {rss} KiB");
        assert_eq!(stdout.len(), expected.len(), "{guest}: bytes");
        assert!(stdout == expected, "{guest}: the output differs from what it wrote");
    }
    let (code, stdout, stderr, rss) = run_read_slowly(&[putchar.clone(), uart.clone()], 3);
    assert_eq!((code, stderr.as_str()), (0, ""));
    assert!(rss < RSS_BOUND_KIB, "peak RSS {rss} KiB");
    for vcpu in ["[0] ", "[1] "] {
        let lines: String =
            stdout.lines().filter_map(|l| l.strip_prefix(vcpu)).map(|l| format!("{l}\n")).collect();
        assert!(lines == expected, "vCPU {vcpu}: its lines differ from what it wrote");
    }
    assert_eq!(stdout.lines().count(), 2 * LINES as usize, "no other line");
}

/// A gdb client of a hostile case: its connection and what it has read so far.
struct GdbClient {
    s: std::net::TcpStream,
    seen: Vec<u8>,
}

impl GdbClient {
    fn connect(port: u16) -> Option<GdbClient> {
        let s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
        s.set_read_timeout(Some(Duration::from_millis(10))).ok()?;
        Some(GdbClient { s, seen: Vec::new() })
    }

    /// Sends `bytes`; false once the connection is gone.
    fn send(&mut self, bytes: &[u8]) -> bool {
        self.s.write_all(bytes).is_ok()
    }

    /// Reads what has come (briefly: replies may or may not be on their way); false at the end
    /// of the connection.
    fn drain(&mut self) -> bool {
        let mut buf = [0u8; 16384];
        loop {
            match self.s.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => {
                    self.seen.extend_from_slice(&buf[..n]);
                    // Only the end matters here: keep a bounded tail.
                    let excess = self.seen.len().saturating_sub(4096);
                    self.seen.drain(..excess);
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }

    /// The first reply (`$...#cc`) to come after `bytes`, waiting up to `limit` (a bound that
    /// only catches a hang); None if the connection ends first.
    fn ask(&mut self, bytes: &[u8], limit: Duration) -> Option<String> {
        self.drain();
        self.seen.clear();
        if !self.send(bytes) {
            return None;
        }
        let until = Instant::now() + limit;
        while Instant::now() < until {
            let open = self.drain();
            let text = String::from_utf8_lossy(&self.seen).into_owned();
            if let Some(at) = text.find('$') {
                if let Some(end) = text[at..].find('#') {
                    return Some(text[at + 1..at + end].to_string());
                }
            }
            if !open {
                return None;
            }
        }
        panic!("no reply within {limit:?} to {:?}", String::from_utf8_lossy(bytes));
    }
}

/// One seeded gdb session against a guest: random packets, well framed or not, and around
/// them other clients that flood, stay silent, ask and are refused, and the session's own
/// client hanging up or detaching and a new one taking over (which must get the session).
fn gdb_case(seed: u64) {
    let mut rng = Rng::new(seed ^ 0x80_0000);
    let spin = common::test_guest("spin");
    let exit7 = common::test_guest("exit7");
    let guest = rng.pick(&["hello", spin.as_str(), exit7.as_str()]);
    let what = format!("gdb session on {guest}, seed {seed}");
    // The timeout only bounds a case that goes wrong: the client ends it (`k`) long before,
    // and a VM that is going away may turn a new client away.
    let vmm = gdb_common::start(&["--timeout", "60", guest], b"");
    let port = vmm.port;
    let mut others = Vec::new();
    let mut client = GdbClient::connect(port);
    for _ in 0..10 + rng.below(40) {
        let Some(c) = client.as_mut() else { break };
        let packet = hostile_gen::gdb::bytes(&mut rng);
        if !c.send(&packet) || !c.drain() {
            client = None;
            break;
        }
        match rng.below(12) {
            0 => {
                // A client that floods without ever ending a packet.
                if let Some(mut f) = GdbClient::connect(port) {
                    let junk = vec![b'x'; 1024 * (4 + rng.below(60) as usize)];
                    let _ = f.send(&junk);
                }
            }
            1 => others.extend(GdbClient::connect(port)), // connects, says nothing
            2 => {
                // Another client asks while the session is taken: it is told so.
                if let Some(mut other) = GdbClient::connect(port) {
                    let reply = other.ask(&gdb_common::packet("qSupported"), HANG_GUARD);
                    if let Some(reply) = reply {
                        assert!(
                            reply.starts_with("E.") || reply.starts_with("PacketSize"),
                            "{what}: {reply}"
                        );
                    }
                }
            }
            3 | 4 => {
                // The session's client leaves (detaching, or just hanging up) and a new one
                // comes: it gets the session, the VM stopped for it (or hears how it ended),
                // unless a client that came before it (a silent one above, waiting to be
                // refused when the session came free) took the session first: never the one
                // that left.
                let left = c.s.local_addr().map(|a| a.to_string()).unwrap_or_default();
                if rng.below(2) == 0 {
                    let _ = c.ask(&gdb_common::packet("D"), HANG_GUARD);
                }
                // Hang up: shutdown sends the end at once, where a close would wait for every
                // copy of the socket, such as one a child being spawned by another test thread
                // holds until its exec.
                if let Some(old) = client.take() {
                    let _ = old.s.shutdown(std::net::Shutdown::Both);
                }
                client = GdbClient::connect(port);
                if let Some(c) = client.as_mut() {
                    if let Some(reply) = c.ask(&gdb_common::packet("?"), HANG_GUARD) {
                        let taken_by_another = reply.starts_with("E.") && !reply.contains(&left);
                        assert!(
                            reply.starts_with('T')
                                || reply.starts_with('W')
                                || reply.starts_with('X')
                                || taken_by_another,
                            "{what}: a new client after the last one left: {reply:?}"
                        );
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(c) = client.as_mut() {
        let _ = c.send(&gdb_common::packet("k"));
    }
    drop(others);
    let (code, _, stderr, rss) = gdb_common::finish_rss(vmm);
    assert!(!stderr.contains("panicked"), "{what}: {stderr}");
    assert!(code >= 0, "{what}: killed by a signal: {stderr}");
    assert!(rss < RSS_BOUND_KIB, "{what}: peak RSS {rss} KiB");
    assert!(
        stderr.lines().all(|l| l.starts_with("mini-kvm: ") || l.starts_with("  ")),
        "{what}: status {code}, stderr {stderr:?}"
    );
}

#[test]
fn gdb_clients_that_send_anything_and_come_and_go_leave_the_vmm_sound() {
    let share = std::env::var("HOSTILE_SHARE")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|&n| n > 0)
        .unwrap_or(1);
    let next = AtomicUsize::new(1);
    let cases = 24 / share;
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::SeqCst) as u64;
                if seed > cases {
                    return;
                }
                gdb_case(seed);
            });
        }
    });
    // And one flood as large as the one that grew mini-kvm without bound: 64 MiB with no `#`
    // from a second client, while a third must still get its answer.
    let vmm = gdb_common::start(&["--timeout", "30", &common::test_guest("spin")], b"");
    let mut session = GdbClient::connect(vmm.port).expect("the session");
    assert!(session.ask(&gdb_common::packet("?"), HANG_GUARD).is_some());
    let mut flood = std::net::TcpStream::connect(("127.0.0.1", vmm.port)).unwrap();
    let flooding = std::thread::spawn(move || {
        let junk = vec![b'x'; 65536];
        for _ in 0..1024 {
            if flood.write_all(&junk).is_err() {
                break;
            }
        }
    });
    let mut third = GdbClient::connect(vmm.port).expect("a third client");
    let refusal = third.ask(&gdb_common::packet("qSupported"), HANG_GUARD);
    assert!(refusal.is_some_and(|r| r.starts_with("E.")), "the third client is answered");
    flooding.join().unwrap();
    let _ = session.send(&gdb_common::packet("k"));
    let (code, _, stderr, rss) = gdb_common::finish_rss(vmm);
    assert_eq!(code, 130, "{stderr}");
    assert!(rss < RSS_BOUND_KIB, "a 64 MiB flood: peak RSS {rss} KiB");
}

#[test]
fn bad_command_lines_are_usage_or_image_errors() {
    let scratch = Scratch::new("cmdlines");
    let long_cmdline = "a".repeat(100_000);
    let modules: Vec<String> = (0..33).flat_map(|_| ["--module".to_string(), "m".into()]).collect();
    let flat = scratch.file("flat.bin", &[0xF4]);
    let dir = scratch.0.to_string_lossy().into_owned();
    let usage: Vec<Vec<String>> = vec![
        strings(&[]),
        strings(&["--bogus", "hello"]),
        strings(&["--timeout", "1e-12", "hello"]),
        strings(&["--timeout", "0", "hello"]),
        strings(&["--timeout", "nan", "hello"]),
        strings(&["--timeout", "inf", "hello"]),
        strings(&["--timeout", "-3", "hello"]),
        strings(&["--mem", "1K", "os-1k"]),
        strings(&["--mem", "17G", "os-1k"]),
        strings(&["--mem", "12345", "os-1k"]),
        strings(&["--mem", "64M", "hello"]),
        strings(&["--cmdline", &long_cmdline, "os-1k"]),
        strings(&["--cmdline", "quiet", "hello"]),
        strings(&["--module", &flat, "hello"]),
        strings(&["--entry", "0x1000", "hello"]),
        strings(&["--load", "0x1000", &flat]),
        strings(&["--long-mode", "--paging", "hello"]),
        strings(&["--gdb", "65536", "hello"]),
        strings(&["--gdb", "99999", "hello"]),
        strings(&["--color=pink", "hello"]),
        strings(&["--trace=bogus", "hello"]),
        strings(&["--verbose=1", "hello"]),
        strings(&["--no-seccomp=1", "hello"]),
        strings(&["a", "b", "c", "d", "e"]),
        strings(&["os-1k", "hello"]),
        strings(&["--paging", "hello", "counter"]),
        strings(&["hello", "hello_64"]),
        [modules.clone(), strings(&["os-1k"])].concat(),
        strings(&["--disk", &format!("{flat},rw"), "os-1k"]),
        strings(&["--disk", "", "os-1k"]),
        strings(&["--disk", &scratch.file("disk.img", &[0; 512]), "hello"]),
    ];
    let image: Vec<Vec<String>> = vec![
        strings(&["/nonexistent/guest.bin"]),
        strings(&[&dir]),
        strings(&["/dev/null"]),
        strings(&[&scratch.file("empty.bin", &[])]),
        strings(&["no-such-guest"]),
        strings(&["--module", "/nonexistent.mod", "os-1k"]),
        strings(&["--module", &dir, "os-1k"]),
        strings(&[&scratch.file("noheader.elf", b"\x7fELF\x02\x01\x01 junk")]),
        strings(&["--disk", &dir, "os-1k"]),
        strings(&["--disk", "/nonexistent/disk.img", "os-1k"]),
        strings(&["--disk", &scratch.file("odd.img", &[0; 100]), "os-1k"]),
        strings(&["--disk", &flat, "os-1k"]),
    ];
    let mut cases = Vec::new();
    for args in usage {
        cases.push(Case {
            what: format!("usage error {args:.80?}"),
            args,
            input: Input::Null,
            vcpus: 1,
            expect: Expect::Status(2),
            envs: Vec::new(),
            disk: None,
        });
    }
    for args in image {
        cases.push(Case {
            what: format!("image error {args:?}"),
            args,
            input: Input::Null,
            vcpus: 1,
            expect: Expect::Status(3),
            envs: Vec::new(),
            disk: None,
        });
    }
    let device = Case {
        what: "MINI_KVM_DEVICE=a directory".into(),
        args: strings(&["hello"]),
        input: Input::Null,
        vcpus: 1,
        expect: Expect::Status(4),
        envs: Vec::new(),
        disk: None,
    };
    cases.push(device);
    // MINI_KVM_DEVICE is set for that one case only, through its own command below.
    let (device, rest): (Vec<_>, Vec<_>) =
        cases.into_iter().partition(|c| c.what.starts_with("MINI_KVM_DEVICE"));
    check_all(rest);
    let r = common::run_with(&["hello"], b"", &[("MINI_KVM_DEVICE", &dir)], HANG_GUARD);
    assert_eq!(r.status, 4, "{}: {}", device[0].what, r.stderr);
    common::assert_one_line(&r, &[&dir, "is a directory"]);
}

#[test]
#[ignore = "run by `make fuzz` (FUZZ_SECONDS, default 60)"]
fn fuzz_for_a_while() {
    let seconds: u64 =
        std::env::var("FUZZ_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(60);
    let first: u64 =
        std::env::var("FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(1, |d| d.as_secs())
        });
    eprintln!("fuzzing for {seconds} s from seed {first} (FUZZ_SEED={first} repeats it)");
    let until = Instant::now() + Duration::from_secs(seconds);
    let mut seed = first;
    let mut runs = 0;
    while Instant::now() < until {
        let scratch = Scratch::new(&format!("fuzz-{seed}"));
        let counts = Counts {
            real: 40,
            long: 20,
            attacks: 20,
            kernels: 20,
            large_real: 4,
            large_long: 2,
            several: 10,
            bzimages: 40,
            disks: 20,
        };
        let cases = generate(&scratch, seed * 1000, counts);
        runs += cases.len();
        check_all(cases);
        for k in 0..4 {
            gdb_case(seed * 1000 + k);
        }
        runs += 4;
        seed += 1;
    }
    eprintln!("{runs} runs, no failure");
}
