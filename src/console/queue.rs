//! A bounded byte queue drained by its own writer thread, so no other thread ever blocks in
//! write(2).
//!
//! write(2) to a pipe nobody reads, a terminal stopped with Ctrl-S or a slow disk blocks until
//! the reader makes room, and no signal mini-kvm uses interrupts it for good. A vCPU thread that
//! sat there could not be stopped by `--timeout`, SIGTERM or Ctrl-A x (issue 14). So every byte
//! mini-kvm writes to stdout or stderr goes through a [`Queue`]: producers put bytes in without
//! waiting (or learn that there is no room), one writer thread per file does the blocking
//! write(2). A full queue is flow control: the vCPU waits for room, checking for a stop request
//! while it does, so a slow reader pauses the guest and loses nothing, and a reader that never
//! reads cannot keep mini-kvm from exiting: at exit the main thread waits a bounded time for the
//! queue to drain and then leaves; a writer thread stuck in write(2) ends with the process.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many bytes may wait in one queue: 16 output buffers, far more than one exit produces.
pub const QUEUE_CAPACITY: usize = 64 * 1024;

/// The most bytes handed to one write(2).
const CHUNK: usize = 16 * 1024;

/// Set once the run is being stopped (timeout, signal, Ctrl-A x): producers then stop waiting
/// for room and drop what does not fit, since the reader is evidently not keeping up.
static HURRY: AtomicBool = AtomicBool::new(false);

/// Tells every producer that the run is ending: stop waiting for room.
pub fn hurry() {
    HURRY.store(true, Ordering::SeqCst);
}

pub fn hurrying() -> bool {
    HURRY.load(Ordering::SeqCst)
}

#[derive(Default)]
struct State {
    /// Bytes not yet written, including the chunk being written now (removed once written).
    bytes: VecDeque<u8>,
    /// The first write error (an errno when there is one); later bytes are discarded.
    error: Option<(std::io::ErrorKind, Option<i32>, String)>,
    /// Bytes written so far: progress, for "is the reader alive?".
    written: u64,
    /// Bytes queued so far (written + waiting).
    pushed: u64,
    /// The producer side is gone: the writer thread ends once the queue is empty.
    closed: bool,
}

struct Inner {
    state: Mutex<State>,
    /// Signalled when bytes are queued (the writer waits on it).
    data: Condvar,
    /// Signalled when bytes were written or an error happened (producers wait on it).
    room: Condvar,
    /// Set while the last byte written was not a newline (see [`Queue::spawn`]).
    line_open: Option<&'static AtomicBool>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Plain bytes and counters: still consistent if a thread panicked holding the lock.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The producer side of one queue; dropping it lets the writer thread end after draining.
pub struct Queue {
    inner: Arc<Inner>,
}

impl Queue {
    /// Starts the writer thread for `writer`. With `line_open`, the thread keeps that flag
    /// telling whether the last byte it wrote ended a line (used to start mini-kvm's own
    /// messages on a fresh line after a guest's unfinished one on a terminal).
    pub fn spawn(
        name: &str,
        mut writer: Box<dyn Write + Send>,
        line_open: Option<&'static AtomicBool>,
    ) -> std::io::Result<Queue> {
        let inner = Arc::new(Inner {
            state: Mutex::new(State::default()),
            data: Condvar::new(),
            room: Condvar::new(),
            line_open,
        });
        let worker = Arc::clone(&inner);
        std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                let mut chunk = Vec::with_capacity(CHUNK);
                loop {
                    {
                        let mut s = worker.lock();
                        while s.bytes.is_empty() && !s.closed {
                            s = worker.data.wait(s).unwrap_or_else(|e| e.into_inner());
                        }
                        if s.bytes.is_empty() {
                            return; // closed and drained
                        }
                        chunk.clear();
                        let n = s.bytes.len().min(CHUNK);
                        chunk.extend(s.bytes.range(..n));
                    }
                    // The only blocking write(2) of this file, with no lock held.
                    let result = writer.write_all(&chunk).and_then(|()| writer.flush());
                    let mut s = worker.lock();
                    match result {
                        Ok(()) => {
                            s.bytes.drain(..chunk.len());
                            s.written += chunk.len() as u64;
                            if let (Some(flag), Some(&last)) = (worker.line_open, chunk.last()) {
                                flag.store(last != b'\n', Ordering::SeqCst);
                            }
                        }
                        Err(e) => {
                            s.error = Some((e.kind(), e.raw_os_error(), e.to_string()));
                            s.bytes.clear();
                        }
                    }
                    drop(s);
                    worker.room.notify_all();
                }
            })?;
        Ok(Queue { inner })
    }

    fn error(state: &State) -> Option<std::io::Error> {
        state.error.as_ref().map(|(kind, errno, text)| match errno {
            Some(errno) => std::io::Error::from_raw_os_error(*errno),
            None => std::io::Error::new(*kind, text.clone()),
        })
    }

    /// Queues `bytes` whole if there is room (an empty queue always has room); `Ok(false)` if
    /// not; the writer's error if an earlier write failed.
    pub fn try_push(&self, bytes: &[u8]) -> std::io::Result<bool> {
        let mut s = self.inner.lock();
        if let Some(e) = Queue::error(&s) {
            return Err(e);
        }
        if bytes.is_empty() {
            return Ok(true);
        }
        if !s.bytes.is_empty() && s.bytes.len() + bytes.len() > QUEUE_CAPACITY {
            return Ok(false);
        }
        s.bytes.extend(bytes);
        s.pushed += bytes.len() as u64;
        drop(s);
        self.inner.data.notify_one();
        Ok(true)
    }

    /// How many bytes have been queued so far: a position [`Queue::wait_written`] can wait for.
    pub fn pushed(&self) -> u64 {
        self.inner.lock().pushed
    }

    /// Waits until the first `position` bytes ever queued have been written (or dropped after a
    /// write error), checking `give_up` every 20 ms; true if they were.
    pub fn wait_written(&self, position: u64, give_up: &dyn Fn() -> bool) -> bool {
        let mut s = self.inner.lock();
        loop {
            if s.written >= position || s.error.is_some() {
                return true;
            }
            drop(s);
            if give_up() {
                return false;
            }
            s = self.inner.lock();
            if s.written >= position || s.error.is_some() {
                return true;
            }
            s = self
                .inner
                .room
                .wait_timeout(s, Duration::from_millis(20))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits up to `timeout` for the writer to make progress (or fail).
    pub fn wait_for_room(&self, timeout: Duration) {
        let s = self.inner.lock();
        if s.bytes.is_empty() || s.error.is_some() {
            return;
        }
        let _ = self.inner.room.wait_timeout(s, timeout);
    }

    /// Queues `bytes`, waiting for room while `give_up` says no; `Ok(false)` if given up.
    pub fn push_waiting(&self, bytes: &[u8], give_up: &dyn Fn() -> bool) -> std::io::Result<bool> {
        loop {
            if self.try_push(bytes)? {
                return Ok(true);
            }
            if give_up() {
                return Ok(false);
            }
            self.wait_for_room(Duration::from_millis(20));
        }
    }

    /// Nothing left to write (everything written, or dropped after a write error).
    pub fn is_drained(&self) -> bool {
        self.inner.lock().bytes.is_empty()
    }

    /// The write error that ended this queue's writing, if one did. A producer learns of it on
    /// its next push; after the last push only this tells that bytes were lost.
    pub fn write_error(&self) -> Option<std::io::Error> {
        Queue::error(&self.inner.lock())
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.inner.lock().written
    }

    /// Waits until the queue is drained or `until` passes; true if drained.
    pub fn drain_until(&self, until: Instant) -> bool {
        let mut s = self.inner.lock();
        loop {
            if s.bytes.is_empty() {
                return true;
            }
            let now = Instant::now();
            if now >= until {
                return false;
            }
            s = self
                .inner
                .room
                .wait_timeout(s, until - now)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Waits until drained, or until the writer has made no progress for `idle`.
    pub fn drain_while_moving(&self, idle: Duration) -> bool {
        loop {
            let before = self.written();
            if self.drain_until(Instant::now() + idle) {
                return true;
            }
            if self.written() == before {
                return false;
            }
        }
    }
}

impl Drop for Queue {
    fn drop(&mut self) {
        self.inner.lock().closed = true;
        self.inner.data.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// A writer that blocks until the test lets each write through.
    struct Gate(mpsc::Receiver<()>, Arc<Mutex<Vec<u8>>>);
    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.recv().map_err(|_| std::io::ErrorKind::BrokenPipe)?;
            self.1.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_writer_fills_the_queue_and_never_blocks_the_producer() {
        let (open, gate) = mpsc::channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let q = Queue::spawn("test", Box::new(Gate(gate, Arc::clone(&seen))), None).unwrap();
        let block = vec![b'x'; 4096];
        let mut queued = 0;
        while q.try_push(&block).unwrap() {
            queued += block.len();
            assert!(
                queued <= QUEUE_CAPACITY + block.len(),
                "the queue is bounded"
            );
        }
        assert!(queued >= QUEUE_CAPACITY - block.len());
        // Giving up is immediate when asked to.
        assert!(!q.push_waiting(&block, &|| true).unwrap());
        assert!(!q.drain_until(Instant::now()));
        // Let everything through: every queued byte arrives, in order, none lost.
        for _ in 0..queued {
            let _ = open.send(());
        }
        assert!(q.drain_until(Instant::now() + Duration::from_secs(10)));
        assert_eq!(seen.lock().unwrap().len(), queued);
        assert_eq!(q.written(), queued as u64);
    }

    #[test]
    fn a_write_error_is_reported_to_the_producer() {
        let (open, gate) = mpsc::channel::<()>();
        drop(open); // the writer's every write fails
        let q = Queue::spawn("test", Box::new(Gate(gate, Arc::default())), None).unwrap();
        assert!(q.try_push(b"abc").unwrap());
        assert!(q.drain_until(Instant::now() + Duration::from_secs(10)));
        // Drained (the bytes were dropped), and the error is there for whoever asks after the
        // last push: the main thread at the end of a run (machine/wait.rs).
        assert!(q.is_drained());
        assert_eq!(
            q.write_error().map(|e| e.kind()),
            Some(std::io::ErrorKind::BrokenPipe)
        );
        assert_eq!(
            q.try_push(b"d").unwrap_err().kind(),
            std::io::ErrorKind::BrokenPipe
        );
    }

    #[test]
    fn the_line_flag_follows_the_last_byte_written() {
        static OPEN: AtomicBool = AtomicBool::new(false);
        let q = Queue::spawn("test", Box::new(std::io::sink()), Some(&OPEN)).unwrap();
        q.try_push(b"Select: ").unwrap();
        assert!(q.drain_until(Instant::now() + Duration::from_secs(10)));
        assert!(OPEN.load(Ordering::SeqCst));
        q.try_push(b"done\n").unwrap();
        assert!(q.drain_until(Instant::now() + Duration::from_secs(10)));
        assert!(!OPEN.load(Ordering::SeqCst));
    }
}
