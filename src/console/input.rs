//! Host input: one thread reads stdin into a bounded queue; guests take bytes from it.
//!
//! The reader thread blocks in read(2), so it costs nothing while the user is not typing, and at
//! end of input it records that fact and ends, instead of spinning as the seed's select() loop
//! did. The queue is bounded: when a guest does not read, the reader waits for room (flow
//! control, as a UART's RTS/CTS would do) rather than growing without limit.
//!
//! Consumers: the hypercall port's GETCHAR (a byte, "nothing yet", or "ended") and the UART,
//! which moves bytes into its receive FIFO. Whoever wants to hear about arrivals (the UART, to
//! raise IRQ 4) registers a callback with [`HostInput::set_arrival_hook`].

use std::collections::VecDeque;
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// The most bytes held between stdin and the guest.
pub const INPUT_CAPACITY: usize = 64 * 1024;

pub use crate::devices::InputByte;

#[derive(Default)]
struct Queue {
    bytes: VecDeque<u8>,
    ended: bool,
}

type ArrivalHook = Box<dyn Fn() + Send + Sync>;

/// The queue between the stdin reader and the guest.
#[derive(Default)]
pub struct HostInput {
    queue: Mutex<Queue>,
    /// Signalled when bytes arrive or input ends.
    arrived: Condvar,
    /// Signalled when bytes are taken, so a reader waiting for room can go on.
    taken: Condvar,
    hook: OnceLock<ArrivalHook>,
    /// Starts the stdin reader the first time a guest asks for input.
    starter: Mutex<Option<Box<dyn FnOnce() + Send>>>,
    started: std::sync::atomic::AtomicBool,
}

impl HostInput {
    pub fn new() -> Arc<HostInput> {
        Arc::new(HostInput::default())
    }

    /// An input that has already ended (guests other than vCPU 0 never get input).
    pub fn ended() -> Arc<HostInput> {
        let input = HostInput::new();
        input.end();
        input
    }

    fn lock(&self) -> MutexGuard<'_, Queue> {
        // The queue holds plain bytes, valid even if a thread panicked while holding the lock.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `start` (which starts the stdin reader) when a guest first asks for input: a guest
    /// that never reads costs no thread.
    pub fn start_reader_on_first_use(&self, start: Box<dyn FnOnce() + Send>) {
        *self.starter.lock().unwrap_or_else(|e| e.into_inner()) = Some(start);
    }

    fn first_use(&self) {
        use std::sync::atomic::Ordering;
        if self.started.load(Ordering::Acquire) {
            return;
        }
        let start = self
            .starter
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        self.started.store(true, Ordering::Release);
        if let Some(start) = start {
            start();
        }
    }

    /// Calls `hook` after every arrival and at end of input (set once).
    pub fn set_arrival_hook(&self, hook: ArrivalHook) {
        let _ = self.hook.set(hook);
    }

    fn notify(&self) {
        self.arrived.notify_all();
        if let Some(hook) = self.hook.get() {
            hook();
        }
    }

    /// Adds bytes, waiting for room when the queue is full.
    pub fn push(&self, mut data: &[u8]) {
        while !data.is_empty() {
            let mut q = self.lock();
            while q.bytes.len() >= INPUT_CAPACITY {
                q = self.taken.wait(q).unwrap_or_else(|e| e.into_inner());
            }
            let n = data.len().min(INPUT_CAPACITY - q.bytes.len());
            q.bytes.extend(&data[..n]);
            data = &data[n..];
            drop(q);
            self.notify();
        }
    }

    /// Records that stdin has ended.
    pub fn end(&self) {
        self.lock().ended = true;
        self.notify();
    }

    fn pop_locked(&self, q: &mut Queue) -> InputByte {
        match q.bytes.pop_front() {
            Some(b) => {
                self.taken.notify_all();
                InputByte::Byte(b)
            }
            None if q.ended => InputByte::Ended,
            None => InputByte::NotYet,
        }
    }

    /// Takes one byte without waiting.
    #[cfg(test)]
    pub fn pop(&self) -> InputByte {
        self.first_use();
        let mut q = self.lock();
        self.pop_locked(&mut q)
    }

    /// Takes one byte, waiting up to `timeout` for one to arrive. A guest polling for input in a
    /// loop then costs the host almost nothing while the user thinks.
    pub fn pop_timeout(&self, timeout: Duration) -> InputByte {
        self.first_use();
        let q = self.lock();
        let (mut q, _) = self
            .arrived
            .wait_timeout_while(q, timeout, |q| q.bytes.is_empty() && !q.ended)
            .unwrap_or_else(|e| e.into_inner());
        self.pop_locked(&mut q)
    }

    /// Moves up to `buf.len()` bytes into `buf`; returns how many, and whether input has ended
    /// with nothing left behind.
    pub fn take(&self, buf: &mut [u8]) -> (usize, bool) {
        self.first_use();
        let mut q = self.lock();
        let n = buf.len().min(q.bytes.len());
        for (slot, byte) in buf.iter_mut().zip(q.bytes.drain(..n)) {
            *slot = byte;
        }
        if n > 0 {
            self.taken.notify_all();
        }
        (n, q.ended && q.bytes.is_empty())
    }
}

/// stdin as the devices see it (devices/mod.rs): COM1's receive side and GETCHAR.
impl crate::devices::ByteSource for HostInput {
    fn take(&self, buf: &mut [u8]) -> (usize, bool) {
        HostInput::take(self, buf)
    }
    fn pop_timeout(&self, timeout: Duration) -> InputByte {
        HostInput::pop_timeout(self, timeout)
    }
}

/// QEMU's console escape: `Ctrl-A x` quits, `Ctrl-A Ctrl-A` sends one Ctrl-A; any other byte
/// after Ctrl-A goes to the guest together with the Ctrl-A.
#[derive(Debug, Default)]
pub struct EscapeFilter {
    after_ctrl_a: bool,
}

pub const CTRL_A: u8 = 0x01;

/// What one typed byte turns into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Typed {
    Nothing,
    One(u8),
    Two(u8, u8),
    Quit,
}

impl EscapeFilter {
    pub fn feed(&mut self, byte: u8) -> Typed {
        if self.after_ctrl_a {
            self.after_ctrl_a = false;
            return match byte {
                b'x' | b'X' => Typed::Quit,
                CTRL_A => Typed::One(CTRL_A),
                other => Typed::Two(CTRL_A, other),
            };
        }
        if byte == CTRL_A {
            self.after_ctrl_a = true;
            Typed::Nothing
        } else {
            Typed::One(byte)
        }
    }
}

/// Starts the stdin reader. With `escapes` (a raw terminal) `Ctrl-A x` calls `quit` and ends
/// reading; otherwise every byte goes to the guest. The thread ends at end of input; at exit it
/// may still be blocked in read(2), which is harmless: nothing waits for it.
pub fn spawn_stdin_reader(
    input: Arc<HostInput>,
    escapes: bool,
    quit: Box<dyn Fn() + Send>,
) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("stdin".into())
        .spawn(move || {
            let mut stdin = std::io::stdin().lock();
            let mut filter = EscapeFilter::default();
            let mut buf = [0u8; 4096];
            let mut out = Vec::with_capacity(buf.len() * 2);
            loop {
                let n = match stdin.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => n,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                    Err(_) => break, // e.g. stdin closed: the same as its end for the guest
                };
                if !escapes {
                    input.push(&buf[..n]);
                    continue;
                }
                out.clear();
                for &b in &buf[..n] {
                    match filter.feed(b) {
                        Typed::Nothing => {}
                        Typed::One(c) => out.push(c),
                        Typed::Two(a, c) => out.extend_from_slice(&[a, c]),
                        Typed::Quit => {
                            input.push(&out);
                            quit();
                            return;
                        }
                    }
                }
                input.push(&out);
            }
            input.end();
        })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_then_end_of_input() {
        let input = HostInput::new();
        assert_eq!(input.pop(), InputByte::NotYet);
        input.push(b"ab");
        input.end();
        assert_eq!(input.pop(), InputByte::Byte(b'a'));
        assert_eq!(input.pop(), InputByte::Byte(b'b'));
        assert_eq!(input.pop(), InputByte::Ended);
        assert_eq!(input.pop(), InputByte::Ended);
    }

    #[test]
    fn take_reports_the_end_only_when_drained() {
        let input = HostInput::new();
        input.push(b"xyz");
        input.end();
        let mut buf = [0u8; 2];
        assert_eq!(input.take(&mut buf), (2, false));
        assert_eq!(&buf, b"xy");
        assert_eq!(input.take(&mut buf), (1, true));
        assert_eq!(input.take(&mut buf), (0, true));
    }

    #[test]
    fn pop_timeout_waits_for_a_byte_from_another_thread() {
        let input = HostInput::new();
        let writer = Arc::clone(&input);
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(20));
            writer.push(b"k");
        });
        assert_eq!(
            input.pop_timeout(Duration::from_secs(10)),
            InputByte::Byte(b'k')
        );
        t.join().unwrap();
        assert_eq!(
            input.pop_timeout(Duration::from_millis(1)),
            InputByte::NotYet
        );
    }

    #[test]
    fn a_full_queue_makes_the_writer_wait_not_grow() {
        let input = HostInput::new();
        let writer = Arc::clone(&input);
        let t = std::thread::spawn(move || writer.push(&vec![7u8; INPUT_CAPACITY + 100]));
        std::thread::sleep(Duration::from_millis(50));
        assert_eq!(input.lock().bytes.len(), INPUT_CAPACITY);
        let mut buf = vec![0u8; 200];
        assert_eq!(input.take(&mut buf).0, 200);
        t.join().unwrap();
        assert_eq!(input.lock().bytes.len(), INPUT_CAPACITY - 100);
    }

    #[test]
    fn arrival_hook_runs_on_push_and_end() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let input = HostInput::new();
        let calls = Arc::new(AtomicUsize::new(0));
        let c = Arc::clone(&calls);
        input.set_arrival_hook(Box::new(move || {
            c.fetch_add(1, Ordering::SeqCst);
        }));
        input.push(b"a");
        input.end();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn ctrl_a_escapes() {
        let mut f = EscapeFilter::default();
        assert_eq!(f.feed(b'a'), Typed::One(b'a'));
        assert_eq!(f.feed(0x03), Typed::One(0x03), "Ctrl-C goes to the guest");
        assert_eq!(f.feed(CTRL_A), Typed::Nothing);
        assert_eq!(f.feed(CTRL_A), Typed::One(CTRL_A));
        assert_eq!(f.feed(CTRL_A), Typed::Nothing);
        assert_eq!(f.feed(b'c'), Typed::Two(CTRL_A, b'c'));
        assert_eq!(f.feed(CTRL_A), Typed::Nothing);
        assert_eq!(f.feed(b'x'), Typed::Quit);
    }
}
