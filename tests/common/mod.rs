//! Helpers for the integration tests: run the real `mini-kvm` binary on real guests under KVM
//! and capture everything it does. Every run has a hard deadline, so a hang fails the test
//! instead of stalling `make test`.

#![allow(dead_code)] // each test file uses a different subset

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

pub const MINI_KVM: &str = env!("CARGO_BIN_EXE_mini-kvm");

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
}

/// Runs mini-kvm with `args`, feeding `stdin` (then closing it), killing it after `limit`.
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
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait works") {
            break status;
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
    Run {
        status: status.code().unwrap_or(-1),
        stdout,
        stderr,
        elapsed,
    }
}

/// Runs mini-kvm with no input and a 20 s deadline.
pub fn run(args: &[&str]) -> Run {
    run_with(args, b"", &[], Duration::from_secs(20))
}

/// Runs mini-kvm with `stdin` as its input and a 20 s deadline.
pub fn run_input(args: &[&str], stdin: &[u8]) -> Run {
    run_with(args, stdin, &[], Duration::from_secs(20))
}

/// Asserts that stderr is exactly one line containing every one of `needles`.
pub fn assert_one_line(run: &Run, needles: &[&str]) {
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "expected one stderr line, got: {:?}",
        run.stderr
    );
    for needle in needles {
        assert!(
            lines[0].contains(needle),
            "stderr {:?} should contain {needle:?}",
            lines[0]
        );
    }
}
