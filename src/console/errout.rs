//! mini-kvm's stderr: every message and trace line goes through one [`Queue`], so a stderr
//! nobody reads (`--trace 2> >(sleep 30)`) can slow a run down but never make it unstoppable.
//!
//! Two kinds of writer use it:
//! * [`message`] (the `diag!` macro): mini-kvm's own one-line messages. It waits until its line
//!   is written while stderr can take bytes (poll(2) says POLLOUT) or the writer is making
//!   progress, and gives up on a stderr that is full and not moving; once the run is stopping
//!   it waits at most [`STOPPING_PATIENCE`], so the main thread can always go on to exit. (A
//!   busy host may keep the writer thread off the CPU for a while: that is not a dead reader,
//!   and the last message of a run, its reason for ending, must not be lost to it.)
//! * [`trace`]: `--trace` lines from vCPU threads. They wait for room until the run is stopped,
//!   which pauses a tracing guest while stderr is slow, as a full stdout does.
//!
//! On a terminal, a message that follows a guest's unfinished line (a prompt such as
//! "Select: ") starts with a newline of its own, so it never reads as part of the guest's text.

use super::queue::{hurrying, Queue};
use std::cell::Cell;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// True while guest output on a terminal stdout ends in the middle of a line.
pub static STDOUT_LINE_OPEN: AtomicBool = AtomicBool::new(false);

/// How long a message waits for a stderr that is full and not moving before it is dropped.
const MESSAGE_PATIENCE: Duration = Duration::from_millis(500);
/// How long a message may wait at all once the run is stopping.
const STOPPING_PATIENCE: Duration = Duration::from_secs(2);

/// Can stderr take bytes now? (A pipe with room, a file, a terminal; not a full pipe.)
fn stderr_writable() -> bool {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use std::os::fd::AsFd;
    let stderr = std::io::stderr();
    let mut fds = [PollFd::new(stderr.as_fd(), PollFlags::POLLOUT)];
    matches!(poll(&mut fds, PollTimeout::ZERO), Ok(n) if n > 0)
}

static QUEUE: OnceLock<Option<Queue>> = OnceLock::new();

fn queue() -> Option<&'static Queue> {
    QUEUE
        .get_or_init(|| Queue::spawn("stderr", Box::new(std::io::stderr()), None).ok())
        .as_ref()
}

/// Whether stdout and stderr share a terminal, so that guest text and messages share lines.
fn shared_terminal() -> bool {
    static SHARED: OnceLock<bool> = OnceLock::new();
    *SHARED.get_or_init(|| std::io::stdout().is_terminal() && std::io::stderr().is_terminal())
}

fn line_bytes(text: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(text.len() + 2);
    if STDOUT_LINE_OPEN.swap(false, Ordering::SeqCst) && shared_terminal() {
        bytes.push(b'\n');
    }
    bytes.extend_from_slice(text.as_bytes());
    bytes.push(b'\n');
    bytes
}

/// One of mini-kvm's own messages (a line; the newline is added). It returns once the line is
/// written, as a plain write(2) would, so it keeps its place among guest output and trace lines
/// on a shared terminal or file; it gives up on a stderr that is not moving.
pub fn message(text: &str) {
    let bytes = line_bytes(text);
    let Some(q) = queue() else {
        // No thread could be started: the plain write is all that is left.
        use std::io::Write as _;
        let _ = std::io::stderr().write_all(&bytes);
        return;
    };
    let started = Instant::now();
    let last = Cell::new((q.written(), Instant::now()));
    let give_up = || {
        let written = q.written();
        if written != last.get().0 {
            last.set((written, Instant::now()));
        }
        let stuck = last.get().1.elapsed() > MESSAGE_PATIENCE && !stderr_writable();
        stuck || (hurrying() && (started.elapsed() > STOPPING_PATIENCE || !stderr_writable()))
    };
    if let Ok(true) = q.push_waiting(&bytes, &give_up) {
        q.wait_written(q.pushed(), &give_up);
    }
}

/// One `--trace` line: written before the vCPU goes on (so `2>&1` keeps the order of events),
/// waiting as long as stderr takes, until the run is stopped.
pub fn trace(text: &str) {
    let bytes = line_bytes(text);
    if let Some(q) = queue() {
        if let Ok(true) = q.push_waiting(&bytes, &hurrying) {
            q.wait_written(q.pushed(), &hurrying);
        }
    }
}

/// Before the process exits: gives stderr time to take what is queued, as long as it keeps
/// taking it; a stderr that does not move is left behind after [`MESSAGE_PATIENCE`].
pub fn drain() {
    if let Some(Some(q)) = QUEUE.get() {
        let _ = q.drain_while_moving(MESSAGE_PATIENCE);
    }
}
