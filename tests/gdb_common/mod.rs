//! Shared by the gdb test files: a mini-kvm waiting for gdb, a real gdb in batch mode, and
//! raw packets for the protocol tests.
#![allow(dead_code)]

use super::common::*;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A mini-kvm waiting for gdb, with its stderr collected as it comes.
pub struct Vmm {
    pub child: Child,
    pub stderr: std::thread::JoinHandle<String>,
    /// The port it listens on (`--gdb 0`: the kernel chose a free one).
    pub port: u16,
}

/// Starts mini-kvm --gdb 0 with `args` and `input`; returns once it says which port it is
/// waiting on (connecting to find out would use up its one connection). Port 0 lets tests
/// run side by side without racing for a port.
pub fn start(args: &[&str], input: &[u8]) -> Vmm {
    start_with(args, Some(input))
}

/// [`start`]; with `input` None, stdin is left open in `child.stdin`.
pub fn start_with(args: &[&str], input: Option<&[u8]>) -> Vmm {
    let mut child = Command::new(MINI_KVM)
        .args(["--gdb", "0"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(input) = input {
        child.stdin.take().unwrap().write_all(input).unwrap();
    }
    let mut err = child.stderr.take().unwrap();
    let (ready, waiting) = std::sync::mpsc::channel();
    let stderr = std::thread::spawn(move || {
        let mut text = String::new();
        let mut buf = [0u8; 512];
        while let Ok(n) = err.read(&mut buf) {
            if n == 0 {
                break;
            }
            text.push_str(&String::from_utf8_lossy(&buf[..n]));
            if let Some(line) = text.lines().find(|l| l.contains("waiting for gdb on 127.0.0.1:")) {
                if text.contains("connect with") {
                    let port = line
                        .split("127.0.0.1:")
                        .nth(1)
                        .and_then(|rest| rest.split(';').next())
                        .and_then(|p| p.parse::<u16>().ok());
                    if let Some(port) = port {
                        let _ = ready.send(port);
                    }
                }
            }
        }
        text
    });
    let Ok(port) = waiting.recv_timeout(Duration::from_secs(30)) else {
        let _ = child.kill();
        let err = stderr.join().unwrap_or_default();
        panic!("mini-kvm did not start waiting for gdb: {err}");
    };
    Vmm { child, stderr, port }
}

/// Waits for mini-kvm to end; returns (status, stdout, stderr).
pub fn finish(vmm: Vmm) -> (i32, String, String) {
    let (status, out, err, _) = finish_rss(vmm);
    (status, out, err)
}

/// [`finish`], and the run's peak RSS in KiB (wait4's rusage).
pub fn finish_rss(vmm: Vmm) -> (i32, String, String, i64) {
    let Vmm { mut child, stderr, .. } = vmm;
    let started = Instant::now();
    let (status, rss) = loop {
        if let Some(ended) = try_wait_rss(&child) {
            break ended;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("mini-kvm did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut out = String::new();
    if let Some(mut stdout) = child.stdout.take() {
        stdout.read_to_string(&mut out).unwrap();
    }
    let err = stderr.join().unwrap();
    (status, out, err, rss)
}

pub fn gdb(port: u16, symbols: Option<&str>, commands: &[&str]) -> String {
    let mut cmd = Command::new("timeout");
    require("gdb");
    // A guard against a hang, not a time limit: on the nested lane a stepi takes ~1 s.
    cmd.args(["600", "gdb", "-batch", "-nx"]);
    cmd.args(["-ex", &format!("target remote :{port}")]);
    for c in commands {
        cmd.args(["-ex", c]);
    }
    if let Some(file) = symbols {
        cmd.arg(file);
    }
    let out = cmd.output().unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
}

/// Frames a payload as gdb would.
pub fn packet(payload: &str) -> Vec<u8> {
    let sum = payload.bytes().fold(0u8, |s, b| s.wrapping_add(b));
    format!("${payload}#{sum:02x}").into_bytes()
}

/// Runs gdb in batch mode on a command file (for loops, which `-ex` cannot hold).
pub fn gdb_script(port: u16, symbols: Option<&str>, name: &str, script: &str) -> String {
    // The temporary directory, not the target dir: the real-KVM lane mounts that read-only.
    let path = std::env::temp_dir().join(format!("mini-kvm-{}-{name}.gdb", std::process::id()));
    std::fs::write(&path, script).unwrap();
    let path = path.to_string_lossy().into_owned();
    gdb(
        port,
        symbols,
        &["source ".to_string() + &path].iter().map(String::as_str).collect::<Vec<_>>(),
    )
}

/// Like [`start`], but stdin stays open (the guest's input, written as the test goes), and
/// stdout is handed back to read as the guest runs.
pub fn start_interactive(
    args: &[&str],
) -> (Vmm, std::process::ChildStdin, std::process::ChildStdout) {
    let mut vmm = start_with(args, None);
    let stdin = vmm.child.stdin.take().expect("stdin kept open");
    let stdout = vmm.child.stdout.take().expect("stdout");
    (vmm, stdin, stdout)
}
