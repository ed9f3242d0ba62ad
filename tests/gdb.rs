//! `--gdb`: a real gdb in batch mode against mini-kvm, and a hostile client.

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A mini-kvm waiting for gdb, with its stderr collected as it comes.
struct Vmm {
    child: Child,
    stderr: std::thread::JoinHandle<String>,
    /// The port it listens on (`--gdb 0`: the kernel chose a free one).
    port: u16,
}

/// Starts mini-kvm --gdb 0 with `args` and `input`; returns once it says which port it is
/// waiting on (connecting to find out would use up its one connection). Port 0 lets tests
/// run side by side without racing for a port.
fn start(args: &[&str], input: &[u8]) -> Vmm {
    let mut child = Command::new(MINI_KVM)
        .args(["--gdb", "0"])
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
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
            if let Some(line) = text
                .lines()
                .find(|l| l.contains("waiting for gdb on 127.0.0.1:"))
            {
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
    Vmm {
        child,
        stderr,
        port,
    }
}

/// Waits for mini-kvm to end; returns (status, stdout, stderr).
fn finish(vmm: Vmm) -> (i32, String, String) {
    let Vmm {
        mut child, stderr, ..
    } = vmm;
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("mini-kvm did not end");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut out = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    let err = stderr.join().unwrap();
    (child.wait().unwrap().code().unwrap_or(-1), out, err)
}

fn gdb(port: u16, symbols: Option<&str>, commands: &[&str]) -> String {
    let mut cmd = Command::new("timeout");
    require("gdb");
    cmd.args(["120", "gdb", "-batch", "-nx"]);
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

#[test]
#[ignore = "needs gdb: `make test` installs it and runs this (or: cargo test -- --include-ignored)"]
fn gdb_breaks_steps_and_reads_the_1k_os() {
    let child = start(&["os-1k"], b"1\n0\n");
    let port = child.port;
    let transcript = gdb(
        port,
        Some(env!("MINI_KVM_OS_1K_ELF")),
        &[
            "break kernel_main",
            "continue",
            "info registers rip",
            "stepi",
            "info registers rip",
            "x/s exception_names[14]",
            "delete",
            "continue",
        ],
    );
    assert!(
        transcript.contains("Breakpoint 1, kernel_main"),
        "{transcript}"
    );
    let rips: Vec<&str> = transcript
        .lines()
        .filter(|l| l.starts_with("rip "))
        .collect();
    assert_eq!(rips.len(), 2, "{transcript}");
    assert!(
        rips[0].ends_with("<kernel_main>"),
        "rip matches the symbol: {}",
        rips[0]
    );
    assert!(
        rips[1].contains("<kernel_main+"),
        "stepi advanced: {}",
        rips[1]
    );
    assert!(transcript.contains("\"page fault (#PF)\""), "{transcript}");
    assert!(transcript.contains("exited normally"), "{transcript}");
    let (status, stdout, stderr) = finish(child);
    assert_eq!(status, 0, "{stderr}");
    // The guest's output is what it is without a debugger.
    let alone = run_input(&["os-1k"], b"1\n0\n");
    assert_eq!(stdout, alone.stdout);
    assert!(
        stderr.contains(&format!("gdb -ex 'target remote :{port}'")),
        "{stderr}"
    );
}

#[test]
#[ignore = "needs gdb: `make test` installs it and runs this (or: cargo test -- --include-ignored)"]
fn stepi_walks_a_real_mode_guest() {
    let child = start(&["hello"], b"");
    let port = child.port;
    let transcript = gdb(
        port,
        None,
        &[
            "stepi",
            "info registers eip",
            "stepi",
            "info registers eip",
            "stepi",
            "info registers eip",
            "x/2i $pc",
            "continue",
        ],
    );
    let eips: Vec<&str> = transcript
        .lines()
        .filter(|l| l.starts_with("eip "))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(eips, vec!["0x3", "0x5", "0x7"], "{transcript}");
    assert!(transcript.contains("exited normally"), "{transcript}");
    let (status, stdout, _) = finish(child);
    assert_eq!((status, stdout.as_str()), (0, "Hello, KVM!\n"));
}

/// Frames a payload as gdb would.
fn packet(payload: &str) -> Vec<u8> {
    let sum = payload.bytes().fold(0u8, |s, b| s.wrapping_add(b));
    format!("${payload}#{sum:02x}").into_bytes()
}

#[test]
fn garbage_and_an_early_disconnect_do_not_hurt_the_vmm() {
    let child = start(&["hello"], b"");
    let port = child.port;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Noise, a bad checksum, a malformed packet, an oversized one, then real requests.
    s.write_all(b"\x00\xffhello}}}#$#").unwrap();
    s.write_all(b"$g#00").unwrap();
    s.write_all(&packet("mzz,qq")).unwrap();
    let mut big = b"$".to_vec();
    big.extend(std::iter::repeat_n(b'G', 40_000));
    big.extend(b"#00");
    s.write_all(&big).unwrap();
    s.write_all(&packet("m0,4")).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let started = Instant::now();
    while !String::from_utf8_lossy(&got).contains("$be13008a") {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            String::from_utf8_lossy(&got)
        );
        let n = s.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains('-'), "the bad checksum was refused: {text}");
    assert!(
        text.contains("$E01#"),
        "the malformed packet got an error: {text}"
    );
    // Hang up mid-session: mini-kvm detaches and the guest runs to its end.
    drop(s);
    let (status, stdout, _) = finish(child);
    assert_eq!((status, stdout.as_str()), (0, "Hello, KVM!\n"));
}

#[test]
fn gdb_kill_stops_the_vm() {
    let child = start(&[&test_guest("spin")], b"");
    let mut s = TcpStream::connect(("127.0.0.1", child.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(&packet("c")).unwrap();
    // The stub acknowledges the packet ('+') and lets the vCPU run; a Ctrl-C from then on
    // must stop it, however soon it comes.
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n.min(1)], b"+");
    s.write_all(b"\x03").unwrap(); // Ctrl-C: the spinning vCPU is kicked and stops
    let mut got = String::from_utf8_lossy(&buf[1..n]).into_owned();
    while !got.contains("T02") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "{got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    s.write_all(&packet("k")).unwrap();
    let (status, _, stderr) = finish(child);
    assert_eq!(status, 130, "{stderr}");
    assert!(stderr.contains("stopped by gdb (kill)"), "{stderr}");
}
