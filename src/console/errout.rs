//! mini-kvm's stderr: every message and trace line goes through one [`Queue`], so a stderr
//! nobody reads (`--trace 2> >(sleep 30)`) can slow a run down but never make it unstoppable.
//!
//! Two kinds of writer use it:
//! * [`message`] (the `diag!` macro): mini-kvm's own one-line messages. It waits until its line
//!   is written while stderr can take bytes (poll(2) says POLLOUT) or the writer is making
//!   progress, and gives up on a stderr that is full and not moving; once the run is stopping
//!   it waits at most [`STOPPING_PATIENCE`], or, when a user asked for the stop, no later than
//!   the stop budget's deadline (stop_budget.rs), so the main thread can always go on to exit.
//!   (A busy host may keep the writer thread off the CPU for a while: that is not a dead
//!   reader, and the last message of a run, its reason for ending, must not be lost to it.)
//! * [`trace`]: `--trace` lines from vCPU threads. They wait for room until the run is stopped,
//!   which pauses a tracing guest while stderr is slow, as a full stdout does.
//!
//! On a terminal, a message that follows a guest's unfinished line (a prompt such as
//! "Select: ") starts with a newline of its own, so it never reads as part of the guest's text.

use super::queue::{hurrying, Queue};
use super::stop_budget::{self, StopBudget};
use std::cell::Cell;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// True while guest output on a terminal stdout ends in the middle of a line.
pub static STDOUT_LINE_OPEN: AtomicBool = AtomicBool::new(false);

/// How long a message waits for a stderr that is full and not moving before it is dropped.
const MESSAGE_PATIENCE: Duration = Duration::from_millis(500);
/// How long a message may wait at all once the run is stopping by itself (a fault); a stop a
/// user asked for has the tighter [`StopBudget::deadline`].
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
        let late = out_of_time(stop_budget::current(), started, Instant::now());
        stuck || late || (hurrying() && !stderr_writable())
    };
    if let Ok(true) = q.push_waiting(&bytes, &give_up) {
        q.wait_written(q.pushed(), &give_up);
    }
}

/// Whether a message begun at `started` has waited as long as it may: until the stop budget's
/// deadline once a user asked for a stop, [`STOPPING_PATIENCE`] once the run stops by itself.
fn out_of_time(budget: Option<StopBudget>, started: Instant, now: Instant) -> bool {
    match budget {
        Some(budget) => now >= budget.deadline(),
        None => hurrying() && now.saturating_duration_since(started) > STOPPING_PATIENCE,
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
/// taking it; a stderr that does not move is left behind after [`MESSAGE_PATIENCE`], and
/// after a user's stop nothing waits past the stop budget's deadline (this wait comes after
/// the one for stdout: two separate patiences would add up past the second the issue allows).
pub fn drain() {
    if let Some(Some(q)) = QUEUE.get() {
        let _ = drain_queue(q, stop_budget::current());
    }
}

/// [`drain`] for one queue and budget; true if everything was written.
fn drain_queue(q: &Queue, budget: Option<StopBudget>) -> bool {
    match budget {
        Some(budget) => q.drain_until(budget.deadline()),
        None => q.drain_while_moving(MESSAGE_PATIENCE),
    }
}

/// The error that ended writing to stderr, if one did (a full disk, a reader that left): the
/// `--trace` lines after it were lost.
pub fn write_error() -> Option<std::io::Error> {
    QUEUE.get()?.as_ref()?.write_error()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A writer stuck in write(2) for good, like a pipe nobody reads.
    struct Stuck(std::sync::mpsc::Receiver<()>);
    impl std::io::Write for Stuck {
        fn write(&mut self, _: &[u8]) -> std::io::Result<usize> {
            let _ = self.0.recv();
            Err(std::io::ErrorKind::BrokenPipe.into())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn after_a_users_stop_stderr_gets_what_is_left_of_the_budget_not_a_patience_of_its_own() {
        let (_keep_stuck, rx) = std::sync::mpsc::channel();
        let q = Queue::spawn("test-stderr", Box::new(Stuck(rx)), None).unwrap();
        assert!(q.try_push(b"mini-kvm: stopped by SIGTERM\n").unwrap());
        // A stop asked for longer ago than the budget (stdout took its whole share and more):
        // the drain does not wait at all, where MESSAGE_PATIENCE would have added half a second.
        let long_ago = Instant::now()
            .checked_sub(stop_budget::STOP_BUDGET)
            .unwrap_or_else(Instant::now);
        let started = Instant::now();
        assert!(!drain_queue(&q, Some(StopBudget::new(long_ago))));
        assert!(started.elapsed() < MESSAGE_PATIENCE, "no wait of its own");
        // A message waits no later than the deadline, and a stop from the run itself (no
        // budget) keeps STOPPING_PATIENCE.
        let budget = StopBudget::new(started);
        assert!(!out_of_time(Some(budget), started, started));
        assert!(out_of_time(Some(budget), started, budget.deadline()));
        let later = started + Duration::from_millis(900);
        assert!(
            out_of_time(Some(budget), later, later),
            "a late message gets no more"
        );
    }
}
