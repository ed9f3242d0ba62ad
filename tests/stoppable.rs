//! Always stoppable: `--timeout` and SIGTERM end a run whose stdout or
//! stderr is a pipe nobody reads, with the documented status; signals and `--timeout` reach a
//! run that is still loading; a blocked reader pauses the guest and loses nothing.
//!
//! The pipes here are the test's own: their read ends stay open and unread, which is exactly
//! `mini-kvm ... > >(sleep 30)`. Elapsed times are printed (the figure the issue asks for is
//! "within 1 s of the request"); the assertions only bound them generously, as hang guards.

mod common;

use common::{test_guest, HANG_GUARD};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MINI_KVM: &str = env!("CARGO_BIN_EXE_mini-kvm");

/// A flood that fills any pipe at once: `rep outsb` of 64 KiB to COM1's THR, forever (KVM
/// hands string I/O over up to a page per exit).
const FAST_FLOOD: [u8; 12] = [
    0xBA, 0xF8, 0x03, // mov dx, 0x3F8
    0xB9, 0xFF, 0xFF, // .l: mov cx, 0xFFFF
    0x31, 0xF6, // xor si, si
    0xF3, 0x6E, // rep outsb
    0xEB, 0xF7, // jmp .l
];

/// Writes the fast flood to a file of its own for the test `name` (tests run in parallel).
fn fast_flood(name: &str) -> String {
    let dir = std::env::temp_dir().join(format!("mini-kvm-stop-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("{name}.bin"));
    std::fs::write(&path, FAST_FLOOD).unwrap();
    path.to_string_lossy().into_owned()
}

/// Is the pipe behind `writer` full (a write would block)?
fn pipe_is_full(writer: &std::io::PipeWriter) -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let mut fds = [PollFd::new(writer.as_fd(), PollFlags::POLLOUT)];
    poll(&mut fds, PollTimeout::ZERO).expect("poll works") == 0
}

/// Waits until the pipe is full, failing after 20 s.
fn wait_until_full(writer: &std::io::PipeWriter) {
    let started = Instant::now();
    while !pipe_is_full(writer) {
        assert!(started.elapsed() < HANG_GUARD, "the pipe never filled");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits for `child` to exit, killing it and failing after `limit`.
fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> (i32, Duration) {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait works") {
            return (status.code().unwrap_or(-1), started.elapsed());
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what}: mini-kvm still running after {limit:?}: killed");
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts mini-kvm with stdout into a pipe that is never read, stderr piped to the test;
/// returns the pipe's two ends (a copy of the write end, to see when the pipe is full).
fn with_blocked_stdout(args: &[&str]) -> (Child, (std::io::PipeReader, std::io::PipeWriter)) {
    let (never_read, writer) = small_pipe();
    let probe = writer.try_clone().expect("dup works");
    let child = Command::new(MINI_KVM)
        .args(args)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("mini-kvm starts");
    (child, (never_read, probe))
}

/// A pipe that holds one page (F_SETPIPE_SZ): a guest fills it with 4,096 exits, a small
/// fraction of a second even on a slow nested KVM, so the tests below see a full pipe long
/// before their timeouts, on any host.
fn small_pipe() -> (std::io::PipeReader, std::io::PipeWriter) {
    let (reader, writer) = std::io::pipe().expect("a pipe");
    nix::fcntl::fcntl(&writer, nix::fcntl::FcntlArg::F_SETPIPE_SZ(4096)).expect("F_SETPIPE_SZ");
    (reader, writer)
}

fn read_all(mut r: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = r.read_to_string(&mut s);
        s
    })
}

#[test]
fn timeout_stops_a_flood_into_a_stdout_nobody_reads() {
    let flood = fast_flood("timeout");
    let (mut child, pipe) = with_blocked_stdout(&["--timeout", "3", &flood]);
    let stderr = read_all(child.stderr.take().expect("piped"));
    let (status, elapsed) = wait_bounded(&mut child, HANG_GUARD, "timeout");
    assert!(pipe_is_full(&pipe.1), "the flood filled the pipe: stdout was blocked");
    let stderr = stderr.join().unwrap_or_default();
    eprintln!("blocked stdout, --timeout 3: ended after {elapsed:?}");
    assert_eq!(status, 124, "stderr: {stderr}");
    assert_eq!(stderr.trim_end(), "mini-kvm: timeout: stopped the guest after 3 s (--timeout)");
}

#[test]
fn sigterm_stops_a_flood_into_a_stdout_nobody_reads() {
    let flood = fast_flood("sigterm");
    let (mut child, pipe) = with_blocked_stdout(&["-v", &flood]);
    let lines = BufReader::new(child.stderr.take().expect("piped")).lines();
    // Wait until the guest's output has filled the pipe (so the writer is stuck in write(2)
    // and the guest is paused), then ask mini-kvm to stop.
    wait_until_full(&pipe.1);
    let asked = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("kill works");
    let rest = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    let (status, _) = wait_bounded(&mut child, HANG_GUARD, "SIGTERM");
    eprintln!("blocked stdout, SIGTERM: ended {:?} after the signal", asked.elapsed());
    let rest = rest.join().unwrap_or_default();
    assert_eq!(status, 130, "stderr: {rest:?}");
    assert!(rest.iter().any(|l| l == "mini-kvm: stopped by SIGTERM"), "stderr: {rest:?}");
}

/// The worst case: stdout and stderr both on one pipe nobody reads (as on a terminal
/// nobody reads), full of guest output and trace lines. The stop must not wait for stdout and
/// then again for stderr: one budget covers the whole way out (src/console/stop_budget.rs
/// checks that it fits in 1 s; here only the hang guard is asserted, the time is printed).
#[test]
fn sigterm_stops_a_run_whose_stdout_and_stderr_nobody_reads() {
    let flood = fast_flood("both");
    let (never_read, writer) = small_pipe();
    let probe = writer.try_clone().expect("dup works");
    let stderr = writer.try_clone().expect("dup works");
    let mut child = Command::new(MINI_KVM)
        .args(["--trace", &flood])
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(stderr)
        .spawn()
        .expect("mini-kvm starts");
    wait_until_full(&probe);
    let asked = Instant::now();
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("kill works");
    let (status, _) = wait_bounded(&mut child, HANG_GUARD, "SIGTERM, both blocked");
    eprintln!("blocked stdout and stderr, SIGTERM: ended {:?} after the signal", asked.elapsed());
    drop(never_read);
    assert_eq!(status, 130);
}

#[test]
fn timeout_stops_a_trace_into_a_stderr_nobody_reads() {
    let flood = test_guest("flood");
    let (never_read, writer) = small_pipe();
    let probe = writer.try_clone().expect("dup works");
    let mut child = Command::new(MINI_KVM)
        .args(["--trace", "--timeout", "3", &flood])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(writer)
        .spawn()
        .expect("mini-kvm starts");
    let (status, elapsed) = wait_bounded(&mut child, HANG_GUARD, "trace");
    assert!(pipe_is_full(&probe), "the trace filled stderr");
    drop(never_read);
    eprintln!("blocked stderr (--trace), --timeout 3: ended after {elapsed:?}");
    assert_eq!(status, 124);
}

/// A real-mode guest printing the bytes 0..=255, 1024 times (256 KiB, four times what the
/// output queue and a pipe hold together), then EXIT.
const COUNTING_GUEST: [u8; 21] = [
    0xBA, 0x00, 0x05, // mov dx, 0x500
    0xB9, 0x00, 0x04, // mov cx, 1024
    0x30, 0xDB, // xor bl, bl
    0xB0, 0x01, // .inner: mov al, 1 (PUTCHAR bl)
    0xEE, // out dx, al
    0xFE, 0xC3, // inc bl
    0x75, 0xF9, // jnz .inner
    0xE2, 0xF7, // loop .inner (bl wrapped to 0)
    0xB0, 0x00, // mov al, 0 (EXIT)
    0xEE, // out dx, al
    0xF4, // hlt
];

#[test]
fn a_slow_reader_pauses_the_guest_and_gets_every_byte() {
    let dir = std::env::temp_dir().join(format!("mini-kvm-slow-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let guest = dir.join("count.bin");
    std::fs::write(&guest, COUNTING_GUEST).unwrap();
    let (reader, writer) = std::io::pipe().expect("a pipe");
    let mut child = Command::new(MINI_KVM)
        .arg(&guest)
        .stdin(Stdio::null())
        .stdout(writer)
        .stderr(Stdio::piped())
        .spawn()
        .expect("mini-kvm starts");
    let stderr = read_all(child.stderr.take().expect("piped"));
    // A reader slower than the guest (small sips with pauses: pacing, not synchronisation), so
    // the queue fills and the guest is paused again and again; it must still get every byte.
    let sipper = std::thread::spawn(move || {
        let mut reader = reader;
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    });
    let (status, elapsed) = wait_bounded(&mut child, Duration::from_secs(60), "slow reader");
    let all = sipper.join().expect("the reader ends");
    let stderr = stderr.join().unwrap_or_default();
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!("256 KiB to a slow reader: {elapsed:?}");
    assert_eq!((status, stderr.as_str()), (0, ""));
    assert_eq!(all.len(), 256 * 1024, "every byte arrived");
    assert!(all.iter().enumerate().all(|(i, &b)| b == i as u8), "in order, none lost or repeated");
}

#[test]
fn timeout_reaches_a_run_that_is_still_loading() {
    // A 2 GiB (sparse) module with --mem 3G passes every size check, and reading it takes far
    // longer than 50 ms: the timeout must stop the reading, with the usual line and status.
    let dir = std::env::temp_dir().join(format!("mini-kvm-loading-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let module = dir.join("big.mod");
    std::fs::File::create(&module).unwrap().set_len(2 << 30).unwrap();
    let mut child = Command::new(MINI_KVM)
        .args(["-v", "--timeout", "0.05", "--mem", "3G", "--module"])
        .arg(&module)
        .arg("os-1k")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("mini-kvm starts");
    let stderr = read_all(child.stderr.take().expect("piped"));
    let (status, elapsed) = wait_bounded(&mut child, Duration::from_secs(30), "loading");
    let stderr = stderr.join().unwrap_or_default();
    std::fs::remove_dir_all(&dir).unwrap();
    eprintln!("--timeout 0.05 while reading a 2 GiB module: ended after {elapsed:?}");
    assert_eq!(status, 124, "stderr: {stderr}");
    assert!(
        stderr.contains("mini-kvm: timeout: stopped the guest after 0.05 s (--timeout)"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("guest RAM:"),
        "stopped while loading, before the VM was built: {stderr}"
    );
}
