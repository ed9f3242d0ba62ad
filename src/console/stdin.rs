//! The host's stdin, as the guests' devices see it: one reader thread, started when a guest
//! first asks for input (or at once on a terminal, for Ctrl-A x), feeds a bounded queue that
//! GETCHAR and COM1's receiver take bytes from. End of input is remembered, so that a guest can
//! see it: GETCHAR answers EOT, and COM1 drops carrier detect. There is one stdin per process,
//! so this is one static, [`STDIN`].

use crate::devices::{ByteSource, Input};
use std::collections::VecDeque;
use std::io::Read;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// Host input waiting for a guest, at most; then the reader waits until the guest reads.
pub const INPUT_CAPACITY: usize = 64 * 1024;
/// How long GETCHAR waits for a key before answering "nothing yet": long enough that a
/// polling guest does not spin a host core, short enough to feel instant.
const GETCHAR_WAIT: Duration = Duration::from_millis(10);

/// The process's stdin.
pub static STDIN: Stdin = Stdin::new();

/// Host input: the bytes stdin gave that no guest has taken yet.
struct Queue {
    bytes: VecDeque<u8>,
    ended: bool,
    /// The reader thread has been started (or never will be).
    started: bool,
}

/// stdin, as the guests' devices see it.
pub struct Stdin {
    queue: Mutex<Queue>,
    arrived: Condvar,
    taken: Condvar,
    /// Called when bytes arrive (COM1's receiver: the machine sets it).
    pub on_arrival: OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// Called on Ctrl-A x (the machine's stop).
    on_quit: OnceLock<Box<dyn Fn() + Send + Sync>>,
    /// stdin is a terminal in raw mode: Ctrl-A escapes apply.
    raw: AtomicBool,
}

impl Stdin {
    const fn new() -> Stdin {
        Stdin {
            queue: Mutex::new(Queue { bytes: VecDeque::new(), ended: false, started: false }),
            arrived: Condvar::new(),
            taken: Condvar::new(),
            on_arrival: OnceLock::new(),
            on_quit: OnceLock::new(),
            raw: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// On a raw terminal the reader starts at once, so that Ctrl-A x works before any read.
    pub fn start_raw(&self, on_quit: Box<dyn Fn() + Send + Sync>) {
        let _ = self.on_quit.set(on_quit);
        self.raw.store(true, Ordering::Relaxed);
        self.start();
    }

    /// Starts the reader thread, once (it fills [`STDIN`], the one stdin there is).
    fn start(&self) {
        if std::mem::replace(&mut self.lock().started, true) {
            return;
        }
        let spawned = std::thread::Builder::new().name("stdin".into()).spawn(|| STDIN.read_stdin());
        if spawned.is_err() {
            self.end(); // no thread, no input: the guest sees the end rather than waiting
        }
    }

    /// The reader thread: stdin into the queue until it ends (or Ctrl-A x).
    fn read_stdin(&self) {
        let mut buf = [0u8; 4096];
        let mut after_ctrl_a = false;
        loop {
            let n = match std::io::stdin().lock().read(&mut buf) {
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => 0, // stdin closed, say: for the guest, the same as its end
            };
            if n == 0 {
                break;
            }
            if !self.raw.load(Ordering::Relaxed) {
                self.push(&buf[..n]);
                continue;
            }
            // Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A (as QEMU's -serial stdio does).
            let mut typed = Vec::with_capacity(n + 1);
            for &b in &buf[..n] {
                match (after_ctrl_a, b) {
                    (true, b'x' | b'X') => {
                        self.push(&typed);
                        self.on_quit.get().into_iter().for_each(|quit| quit());
                        return;
                    }
                    (true, 0x01) => typed.push(0x01),
                    (true, other) => typed.extend_from_slice(&[0x01, other]),
                    (false, 0x01) => {}
                    (false, other) => typed.push(other),
                }
                after_ctrl_a = !after_ctrl_a && b == 0x01;
            }
            self.push(&typed);
        }
        self.end();
    }

    /// Bytes from stdin; waits while the queue is full.
    fn push(&self, mut data: &[u8]) {
        while !data.is_empty() {
            let mut q = self.lock();
            while q.bytes.len() >= INPUT_CAPACITY {
                q = self.taken.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            let n = data.len().min(INPUT_CAPACITY - q.bytes.len());
            q.bytes.extend(&data[..n]);
            data = &data[n..];
            drop(q);
            self.arrived();
        }
    }

    fn end(&self) {
        self.lock().ended = true;
        self.arrived();
    }

    fn arrived(&self) {
        self.arrived.notify_all();
        self.on_arrival.get().into_iter().for_each(|f| f());
    }
}

impl ByteSource for Stdin {
    fn take(&self, buf: &mut [u8]) -> (usize, bool) {
        self.start();
        let mut q = self.lock();
        let n = buf.len().min(q.bytes.len());
        q.bytes.drain(..n).zip(buf.iter_mut()).for_each(|(b, slot)| *slot = b);
        self.taken.notify_all();
        (n, q.ended && q.bytes.is_empty())
    }

    fn pop(&self) -> Input {
        self.start();
        let waiting = |q: &mut Queue| q.bytes.is_empty() && !q.ended;
        let wait = self.arrived.wait_timeout_while(self.lock(), GETCHAR_WAIT, waiting);
        let mut q = wait.unwrap_or_else(|e| e.into_inner()).0;
        self.taken.notify_all();
        match q.bytes.pop_front() {
            Some(b) => Input::Byte(b),
            None if q.ended => Input::Ended,
            None => Input::NotYet,
        }
    }
}

#[cfg(test)]
mod tests;
