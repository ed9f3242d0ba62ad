//! Helpers for the integration tests: run the real `mini-kvm` binary on real guests under KVM
//! and capture everything it does. Every run has a hard deadline, so a hang fails the test
//! instead of stalling `make test`.

#![allow(dead_code)] // each test file uses a different subset

pub mod linux;

pub mod tmux;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

pub const MINI_KVM: &str = env!("CARGO_BIN_EXE_mini-kvm");

/// How long a run may take before a test calls it hung and kills it. Generous: a guard
/// against a hang, never a timing assertion (a loaded 2-core machine, or a nested KVM, can
/// make a run that takes 50 ms take seconds).
pub const HANG_GUARD: Duration = Duration::from_secs(90);

/// A directory of one test's own under the system's temporary directory (named after the test,
/// the process and the thread, so tests running side by side never share one), removed when
/// the test ends, passed or failed.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        let thread = std::thread::current().id();
        let dir = std::env::temp_dir()
            .join(format!("mini-kvm-{name}-{}-{thread:?}", std::process::id()))
            .to_string_lossy()
            .replace(['(', ')'], "");
        let dir = PathBuf::from(dir);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("the temporary directory is writable");
        Scratch(dir)
    }

    /// The path of `name` in the directory, as a string for a command line.
    pub fn path(&self, name: &str) -> String {
        self.0.join(name).to_string_lossy().into_owned()
    }

    /// Writes `bytes` to `name` in the directory; returns its path.
    pub fn file(&self, name: &str, bytes: &[u8]) -> String {
        std::fs::write(self.0.join(name), bytes).expect("the temporary directory is writable");
        self.path(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A test guest assembled by build.rs from tests/guests/NAME.asm.
pub fn test_guest(name: &str) -> String {
    let path = PathBuf::from(env!("MINI_KVM_TEST_GUESTS")).join(format!("{name}.bin"));
    assert!(path.exists(), "missing test guest {}", path.display());
    path.to_string_lossy().into_owned()
}

/// What one run of mini-kvm did.
#[derive(Debug)]
pub struct Run {
    pub status: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
    /// The run's peak resident set size (wait4's `ru_maxrss`), in KiB.
    pub max_rss_kib: i64,
}

/// Has `child` ended? Its exit status (-1 if a signal ended it) and its peak RSS in KiB, from
/// wait4(2) with WNOHANG: the rusage of this one child, where getrusage(RUSAGE_CHILDREN) would
/// give the largest of every child the test binary has waited for. Once this returned Some, the
/// child is reaped: `child.wait()` and `child.kill()` must not be called on it again.
pub fn try_wait_rss(child: &std::process::Child) -> Option<(i32, i64)> {
    let pid = child.id() as libc::pid_t;
    let mut status: libc::c_int = 0;
    // SAFETY: an all-zero rusage is a valid value of this plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: wait4 writes only the two out-parameters, which are valid and exclusive here;
    // `pid` is our own child, so no other process's status is reaped.
    let reaped = unsafe { libc::wait4(pid, &mut status, libc::WNOHANG, &mut usage) };
    assert!(reaped >= 0, "wait4({pid}): {}", std::io::Error::last_os_error());
    if reaped != pid {
        return None;
    }
    let code = if libc::WIFEXITED(status) { libc::WEXITSTATUS(status) } else { -1 };
    Some((code, usage.ru_maxrss))
}

/// Runs mini-kvm with `args`, feeding `stdin` (then closing it), killing it after `limit`.
// The child is reaped by wait4 (try_wait_rss), which clippy does not see.
#[allow(clippy::zombie_processes)]
pub fn run_with(args: &[&str], stdin: &[u8], envs: &[(&str, &str)], limit: Duration) -> Run {
    let started = Instant::now();
    let mut child = Command::new(MINI_KVM)
        .args(args)
        .envs(envs.iter().copied())
        .env_remove("NO_COLOR")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mini-kvm starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        // The guest may stop before reading everything: a broken pipe is fine.
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let out_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let (status, max_rss_kib) = loop {
        if let Some(ended) = try_wait_rss(&child) {
            break ended;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("mini-kvm {args:?} still running after {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = started.elapsed();
    let _ = feeder.join();
    let stdout = String::from_utf8_lossy(&out_reader.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&err_reader.join().unwrap_or_default()).into_owned();
    Run { status, stdout, stderr, elapsed, max_rss_kib }
}

/// Runs mini-kvm with no input, killed after [`HANG_GUARD`].
pub fn run(args: &[&str]) -> Run {
    run_with(args, b"", &[], HANG_GUARD)
}

/// Runs mini-kvm with `stdin` as its input, killed after [`HANG_GUARD`].
pub fn run_input(args: &[&str], stdin: &[u8]) -> Run {
    run_with(args, stdin, &[], HANG_GUARD)
}

/// Asserts that stderr is exactly one line containing every one of `needles`.
pub fn assert_one_line(run: &Run, needles: &[&str]) {
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one stderr line, got: {:?}", run.stderr);
    for needle in needles {
        assert!(lines[0].contains(needle), "stderr {:?} should contain {needle:?}", lines[0]);
    }
}

/// What mini-kvm's own probes found out about this host's KVM (`mini-kvm --host-check=keys`,
/// the same probes as the `--host-check` table), asked once per test binary. Tests decide what
/// to expect from these facts, never from the name of a kernel module: the same test must
/// hold on Intel VMX, AMD SVM, nested and paravirtual KVMs (docs/kvm-variants.md).
pub struct Host {
    keys: Vec<(String, String)>,
}

impl Host {
    /// The value of `key`; a missing key is a broken `--host-check=keys`, so the test fails.
    pub fn key(&self, key: &str) -> &str {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("--host-check=keys has no {key:?}: {:?}", self.keys))
    }

    pub fn is(&self, key: &str, value: &str) -> bool {
        self.key(key) == value
    }

    /// `kind`: "paravirtual" or "real" (VMX/SVM semantics, nested or not).
    pub fn kind(&self) -> &str {
        self.key("kind")
    }

    pub fn paravirtual(&self) -> bool {
        self.is("kind", "paravirtual")
    }
}

/// This host's probed facts (see [`Host`]).
pub fn host() -> &'static Host {
    static HOST: OnceLock<Host> = OnceLock::new();
    HOST.get_or_init(|| {
        // Generous: on a nested KVM under QEMU's software CPU, with tests running beside it,
        // the probes take far longer than the second they take on hardware.
        let r = run_with(&["--host-check=keys"], b"", &[], Duration::from_secs(300));
        assert_eq!(r.status, 0, "mini-kvm --host-check=keys failed: {}", r.stderr);
        let keys = r
            .stdout
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Host { keys }
    })
}

/// Fails the test, with the fix, when `tool` is not installed. Tests that call this are
/// `#[ignore]`d with the reason in their attribute; `make test` installs the tools and runs
/// them with `--include-ignored`, so a missing tool there is a failure, never a silent pass.
pub fn require(tool: &str) {
    let found = std::process::Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(found, "{tool} is not installed: `make test` installs it (or: apt-get install {tool})");
}

/// An interactive run: mini-kvm with its input on a pipe, driven by what it prints (never by
/// time). Give it a `--timeout`: that bounds the run, so a hung guest ends the stream and
/// fails the test instead of stalling it.
pub struct Interactive {
    child: std::process::Child,
    input: std::process::ChildStdin,
    output: std::process::ChildStdout,
    seen: String,
    at: usize,
}

impl Interactive {
    /// Starts `mini-kvm ARGS` and reads until `first` (a guest's first prompt).
    pub fn start(args: &[&str], first: &str) -> Interactive {
        let mut child = Command::new(MINI_KVM)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("mini-kvm starts");
        let input = child.stdin.take().expect("piped");
        let output = child.stdout.take().expect("piped");
        let mut s = Interactive { child, input, output, seen: String::new(), at: 0 };
        s.expect(first);
        s
    }

    /// Boots the 1K OS under QEMU (TCG: no KVM needed) with `-smp SMP`, and reads until its
    /// first prompt. `timeout` bounds the run, as `--timeout` does mini-kvm's; the OS's `0`
    /// powers QEMU off (see `finish`).
    pub fn qemu(smp: &str) -> Interactive {
        require("qemu-system-x86_64");
        let mut child = Command::new("timeout")
            .args(["120", "qemu-system-x86_64", "-accel", "tcg", "-smp", smp])
            .args(["-kernel", env!("MINI_KVM_OS_1K_IMAGE")])
            .args(["-serial", "stdio", "-display", "none", "-no-reboot", "-m", "32"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("qemu starts");
        let input = child.stdin.take().expect("piped");
        let output = child.stdout.take().expect("piped");
        let mut s = Interactive { child, input, output, seen: String::new(), at: 0 };
        s.expect("\n$ ");
        s
    }

    /// Types `line` at the shell's prompt and returns what came back for it, up to the next
    /// prompt.
    pub fn command(&mut self, line: &str) -> String {
        self.send(&format!("{line}\n"));
        self.expect(&format!("{line}\n"));
        let start = self.at - 1; // the echoed line's newline
        self.at = start;
        self.expect("\n$ ");
        self.seen[start + 1..self.at - 2].to_string()
    }

    /// Everything the run has printed so far.
    pub fn seen(&self) -> &str {
        &self.seen
    }

    /// Reads until `needle` appears after what the last call matched.
    pub fn expect(&mut self, needle: &str) {
        let mut buf = [0u8; 4096];
        loop {
            if let Some(i) = self.seen[self.at..].find(needle) {
                self.at += i + needle.len();
                return;
            }
            let n = self.output.read(&mut buf).unwrap_or(0);
            assert!(n > 0, "the run ended before {needle:?}:\n{}", self.seen);
            self.seen.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    }

    pub fn send(&mut self, text: &str) {
        self.input.write_all(text.as_bytes()).unwrap();
    }

    /// Ends the input, waits for the run to end with status 0, returns everything printed.
    pub fn finish(mut self) -> String {
        drop(self.input);
        self.output.read_to_string(&mut self.seen).unwrap();
        let status = self.child.wait().unwrap();
        assert_eq!(status.code(), Some(0), "{}", self.seen);
        self.seen
    }
}

/// Reads `from` until `needle` has appeared (or the stream ends, which fails the test);
/// returns everything read. The way tests wait for a process: on what it says, not on time.
pub fn read_until(from: &mut impl Read, seen: &mut String, needle: &str) {
    let mut buf = [0u8; 4096];
    while !seen.contains(needle) {
        let n = from.read(&mut buf).unwrap_or(0);
        assert!(n > 0, "the stream ended before {needle:?}:\n{seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
}
