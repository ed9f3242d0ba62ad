//! The host side of the guest's console: guest bytes out to stdout, keys in from stdin, the
//! terminal's mode, and mini-kvm's own words to stderr.
//!
//! * [`Output`], one per vCPU: every byte a guest prints costs it a VM exit (several µs), so the
//!   write(2) that follows must not double that. Bytes collect in a buffer the vCPU thread owns
//!   and leave in one write when it is full, when a line ends on a terminal, when the guest asks
//!   for input, when the vCPU stops, or when they have waited a tick: the main thread sees
//!   that ([`Pending`]) and kicks the vCPU out of KVM_RUN to write them. The write happens on
//!   the vCPU's thread, so a slow reader pauses the guest and nothing is lost; a stop never
//!   waits for stdout (machine.rs leaves after its budget). With several vCPUs each line is
//!   written whole as `[N] line`.
//! * [`stdin`]: one reader thread, started when a guest first asks for input, feeds a bounded
//!   queue the devices take from; end of input is remembered; on a terminal, Ctrl-A x quits.
//! * [`RawMode`]: the terminal in raw mode while a guest runs, so keys reach it one by one
//!   (termios(3)), restored on every way out.
//! * [`message`], [`note`]: mini-kvm's lines on stderr, which never hang a stop.

mod prefix;
pub mod stdin;

use crate::devices::ByteSink;
use crate::error::Ending;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, InputFlags, LocalFlags, SetArg, SpecialCharacterIndices, Termios};
use std::io::IsTerminal;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How many bytes a vCPU buffers before writing (and the longest `[N] ` line).
pub const OUTPUT_BUFFER: usize = 4096;

static VERBOSE: AtomicBool = AtomicBool::new(false);
/// When mini-kvm must be gone (a stop's budget, machine.rs): stderr waits for nobody past it.
static DEADLINE: Mutex<Option<Instant>> = Mutex::new(None);
/// The last byte written to a terminal stdout was not a newline.
static LINE_OPEN: AtomicBool = AtomicBool::new(false);

/// `-v`: [`note`]s are printed.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, Ordering::Relaxed);
}

/// Whether `-v` was given.
pub fn verbose() -> bool {
    VERBOSE.load(Ordering::Relaxed)
}

/// One `-v` line; `text` is built only when verbose.
pub fn note(text: impl FnOnce() -> String) {
    if VERBOSE.load(Ordering::Relaxed) {
        message(&format!("mini-kvm: {}", text()));
    }
}

/// From now on stderr waits for nobody past `deadline`.
pub fn set_deadline(deadline: Instant) {
    *DEADLINE.lock().unwrap_or_else(|e| e.into_inner()) = Some(deadline);
}

/// One line of mini-kvm's on stderr. Never panics (a closed stderr loses it) and gives up on a
/// stderr that takes nothing for half a second, or when a stop's budget is spent.
pub fn message(text: &str) {
    let _ = write_line(text, Some(Duration::from_millis(500)));
}

/// One line on stderr, waiting for it to be taken for ever (`--trace`: the guest waits with
/// it) or `patience` without progress, and never past a stop's budget.
pub fn write_line(text: &str, patience: Option<Duration>) -> std::io::Result<()> {
    let mut line = Vec::with_capacity(text.len() + 2);
    let terminals = std::io::stdout().is_terminal() && std::io::stderr().is_terminal();
    if terminals && LINE_OPEN.swap(false, Ordering::Relaxed) {
        line.push(b'\n'); // a message starts on a line of its own, not after a guest's prompt
    }
    line.extend_from_slice(text.as_bytes());
    line.push(b'\n');
    write_bounded(std::io::stderr().as_fd(), &line, patience)
}

/// write(2)s all of `bytes`, waiting for the fd to take them: for ever, or `patience` without
/// progress, and never past the deadline.
fn write_bounded(
    fd: BorrowedFd,
    mut bytes: &[u8],
    patience: Option<Duration>,
) -> std::io::Result<()> {
    while !bytes.is_empty() {
        let deadline = *DEADLINE.lock().unwrap_or_else(|e| e.into_inner());
        let wait = match (deadline, patience) {
            (Some(d), p) => {
                d.saturating_duration_since(Instant::now()).min(p.unwrap_or(Duration::MAX))
            }
            (None, p) => p.unwrap_or(Duration::MAX),
        };
        let ms = wait.as_millis().min(60_000) as u16;
        let mut fds = [PollFd::new(fd, PollFlags::POLLOUT)];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(0) if ms < 60_000 => return Err(std::io::ErrorKind::TimedOut.into()),
            Ok(0) | Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(e.into()),
            Ok(_) => {}
        }
        match nix::unistd::write(fd, bytes) {
            Ok(n) => bytes = &bytes[n..],
            Err(nix::errno::Errno::EINTR | nix::errno::Errno::EAGAIN) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Whether a vCPU's buffered bytes have waited: shared with the main thread's tick.
#[derive(Default)]
pub struct Pending {
    waiting: AtomicBool,
    flushes: AtomicU64,
    /// Output waiting elsewhere (KVM's coalesced ring): where, if any.
    pub also: std::sync::OnceLock<Box<dyn Fn() -> Option<u32> + Send + Sync>>,
}

impl Pending {
    /// (output waiting, a count that moves when it moves): the main thread kicks a vCPU whose
    /// output has waited a whole tick without moving.
    pub fn snapshot(&self) -> (bool, u64) {
        let elsewhere = self.also.get().and_then(|f| f());
        let moved = self.flushes.load(Ordering::Relaxed) ^ (elsewhere.map_or(0, u64::from) << 32);
        (self.waiting.load(Ordering::Relaxed) || elsewhere.is_some(), moved)
    }
}

/// One vCPU's output buffer.
pub struct Output {
    prefix: Option<Vec<u8>>,
    buf: Vec<u8>,
    /// With a prefix: where the line being collected starts in `buf`.
    line_start: usize,
    /// Flush at every line end: stdout is a terminal someone watches.
    tty: bool,
    pub pending: Arc<Pending>,
    /// Where the bytes go: stdout, unless a test gives a pipe.
    to: Option<std::os::fd::OwnedFd>,
}

impl Output {
    /// vCPU `index`'s output, prefixed `[index] ` when `several` vCPUs share stdout.
    pub fn new(index: usize, several: bool, color: Option<bool>) -> Output {
        let tty = std::io::stdout().is_terminal();
        let (buf, pending) = (Vec::with_capacity(OUTPUT_BUFFER + 64), Arc::default());
        let prefix = several.then(|| prefix::prefix(index, color, tty));
        Output { prefix, buf, line_start: 0, tty, pending, to: None }
    }

    /// The vCPU stopped: a partial `[N] ` line gets its newline, and everything is written.
    pub fn finish(&mut self) -> Result<(), Ending> {
        if self.prefix.is_some() && self.buf.len() > self.line_start {
            self.buf.push(b'\n');
            self.line_start = self.buf.len();
        }
        self.write_out()
    }

    /// The same output, written to `fd` (a pipe a test reads) as to a file, not a terminal.
    #[cfg(test)]
    pub fn writing_to(self, fd: std::os::fd::OwnedFd) -> Output {
        Output { to: Some(fd), tty: false, ..self }
    }

    /// Writes what can go now: everything, or with a prefix every complete line.
    fn write_out(&mut self) -> Result<(), Ending> {
        let end = if self.prefix.is_some() { self.line_start } else { self.buf.len() };
        if end > 0 {
            let stdout = std::io::stdout();
            let fd = self.to.as_ref().map_or(stdout.as_fd(), |fd| fd.as_fd());
            let written = write_bounded(fd, &self.buf[..end], None);
            written.map_err(|e| Ending::Host(format!("writing guest output failed: {e}")))?;
            LINE_OPEN.store(self.tty && self.buf[end - 1] != b'\n', Ordering::Relaxed);
            self.buf.drain(..end);
            self.line_start = 0;
        }
        self.pending.flushes.fetch_add(1, Ordering::Relaxed);
        self.pending.waiting.store(!self.buf.is_empty(), Ordering::Relaxed);
        Ok(())
    }
}

impl ByteSink for Output {
    fn push(&mut self, byte: u8) -> Result<(), Ending> {
        if let Some(prefix) = &self.prefix {
            if self.buf.len() == self.line_start {
                self.buf.extend_from_slice(prefix);
            }
            self.buf.push(byte);
            if self.buf.len() - self.line_start >= OUTPUT_BUFFER {
                self.buf.push(b'\n'); // a line too long to hold is broken here
            }
            if byte == b'\n' || self.buf.last() == Some(&b'\n') {
                self.line_start = self.buf.len();
                return self.write_out();
            }
            return Ok(());
        }
        self.buf.push(byte);
        self.pending.waiting.store(true, Ordering::Relaxed);
        if self.buf.len() >= OUTPUT_BUFFER || (byte == b'\n' && self.tty) {
            return self.write_out();
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Ending> {
        self.write_out()
    }
}

/// The terminal's settings before raw mode, to restore on every way out.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

/// Raw mode on a terminal stdin, while it lives: no echo, no line editing, no signals from
/// keys (Ctrl-C reaches the guest), CR not turned into LF, no flow control (termios(3)).
pub struct RawMode(());

impl RawMode {
    /// Raw mode, if stdin is a terminal.
    pub fn enter() -> Option<RawMode> {
        let stdin = std::io::stdin();
        let saved = termios::tcgetattr(&stdin).ok()?;
        let mut raw = saved.clone();
        raw.local_flags &= !(LocalFlags::ECHO | LocalFlags::ICANON | LocalFlags::ISIG);
        raw.input_flags &= !(InputFlags::IXON | InputFlags::ICRNL);
        raw.control_chars[SpecialCharacterIndices::VMIN as usize] = 1;
        raw.control_chars[SpecialCharacterIndices::VTIME as usize] = 0;
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some(saved);
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore_terminal();
            previous(info);
        }));
        termios::tcsetattr(&stdin, SetArg::TCSANOW, &raw).ok()?;
        Some(RawMode(()))
    }
}

/// The terminal's settings before raw mode, if it is raw.
pub fn saved_terminal() -> Option<Termios> {
    SAVED.lock().unwrap_or_else(|e| e.into_inner()).clone()
}

/// Puts the terminal back as it was (callable from anywhere, any number of times).
pub fn restore_terminal() {
    if let Some(saved) = SAVED.lock().unwrap_or_else(|e| e.into_inner()).take() {
        let _ = termios::tcsetattr(std::io::stdin(), SetArg::TCSANOW, &saved);
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore_terminal();
    }
}

#[cfg(test)]
mod tests;
