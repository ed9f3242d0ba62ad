//! Hostile guests: random real- and long-mode code, guests aimed at the
//! devices, mutated Multiboot kernels and bad command lines. Whatever they do, every run must
//! end within its bound, with a documented exit status, at most the one stderr line that status
//! calls for, and no panic.
//!
//! Deterministic: every case comes from a seeded xorshift generator written here, so a failure
//! names its seed and reproduces. `make fuzz` runs the same generators with fresh seeds for as
//! long as `FUZZ_SECONDS` says (the `fuzz_for_a_while` test, ignored in `make test`).

mod common;
mod hostile_gen;

use common::HANG_GUARD;
use hostile_gen::{devices, mutate, random_code, tiny_kernel, Rng};

use std::io::{Read, Write};
use std::path::PathBuf;
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
    /// Statuses that are not acceptable for this case, besides the general rules.
    expect: Expect,
}

enum Expect {
    /// A guest: any status it may choose, or one of mini-kvm's.
    Guest,
    /// Exactly this status.
    Status(i32),
}

/// mini-kvm's own statuses: each comes with exactly one stderr line.
const MINI_KVM_STATUSES: [i32; 7] = [1, 2, 3, 4, 5, 124, 130];

/// Runs one case and checks the general rules; returns the status.
fn check(case: &Case) -> i32 {
    let mut cmd = Command::new(MINI_KVM);
    cmd.args(&case.args).stdout(Stdio::piped()).stderr(Stdio::piped());
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
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait works") {
            break status;
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
    let code = status
        .code()
        .unwrap_or_else(|| panic!("{}: killed by a signal ({status:?}): {stderr}", case.what));
    assert!(!stderr.contains("panicked"), "{}: mini-kvm panicked: {stderr}", case.what);
    // A fault's one line may be followed by its explanation, indented (fault.rs).
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.starts_with("  ")).collect();
    if MINI_KVM_STATUSES.contains(&code) {
        // One line says why. A timeout may add the line of a guest that faulted in the same
        // instant the deadline passed (both are true, and both are told).
        let allowed = if code == 124 { 1..=2 } else { 1..=1 };
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
    eprintln!("exit statuses (status: runs): {:?}", statuses.into_inner().unwrap());
    let failures = failures.into_inner().unwrap();
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}

struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        let dir = std::env::temp_dir().join(format!("mini-kvm-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
    fn file(&self, name: &str, bytes: &[u8]) -> String {
        let path = self.0.join(name);
        std::fs::write(&path, bytes).unwrap();
        path.to_string_lossy().into_owned()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn guest_case(what: String, args: Vec<String>, input: Input) -> Case {
    Case { what, args, input, expect: Expect::Guest }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| s.to_string()).collect()
}

/// The cases of one seed range: `n` of each kind.
fn generate(
    scratch: &Scratch,
    first_seed: u64,
    real: u64,
    long: u64,
    attacks: u64,
    kernels: u64,
) -> Vec<Case> {
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
    cases
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
    let mut cases = generate(&scratch, 1, 200 / share, 100 / share, 60 / share, 100 / share);
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
            expect: Expect::Status(124),
        };
        cases.push(case);
    }
    let n = cases.len();
    check_all(cases);
    eprintln!("{n} hostile runs in {:?}", started.elapsed());
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
    ];
    let mut cases = Vec::new();
    for args in usage {
        cases.push(Case {
            what: format!("usage error {args:.80?}"),
            args,
            input: Input::Null,
            expect: Expect::Status(2),
        });
    }
    for args in image {
        cases.push(Case {
            what: format!("image error {args:?}"),
            args,
            input: Input::Null,
            expect: Expect::Status(3),
        });
    }
    let device = Case {
        what: "MINI_KVM_DEVICE=a directory".into(),
        args: strings(&["hello"]),
        input: Input::Null,
        expect: Expect::Status(4),
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
        let cases = generate(&scratch, seed * 1000, 40, 20, 20, 20);
        runs += cases.len();
        check_all(cases);
        seed += 1;
    }
    eprintln!("{runs} runs, no failure");
}
