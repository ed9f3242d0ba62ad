//! Guest output: a buffer per vCPU, flushed at the right moments, with line prefixes when
//! several vCPUs share stdout.
//!
//! Every byte a guest prints costs it a VM exit (about 6 µs here), so the write(2) that follows
//! must not double that: bytes collect in a per-vCPU buffer owned by the vCPU thread (no lock,
//! no allocation per byte) and leave in one write when
//! * the buffer is full (4 KiB);
//! * a line ends and stdout is a terminal (so interactive use feels immediate);
//! * the guest asks for input (it will wait for the user, who must see the prompt first);
//! * the vCPU stops;
//! * bytes have waited too long: the main thread notices (see [`FlushState`]) and kicks the vCPU
//!   out of KVM_RUN, which matters for guests that halt inside KVM waiting for an interrupt.
//!
//! With two or more vCPUs each complete line is written whole as `[N] line\n` in a single
//! write(2), so lines of different guests never mix; a partial line is finished with a newline
//! when its vCPU stops, and a line longer than the buffer is broken there.

use super::errout::STDOUT_LINE_OPEN;
use super::queue::{hurrying, Queue};
use super::stop_budget::VCPU_GRACE;
use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How many bytes a vCPU buffers before writing (and the longest prefixed line).
pub const OUTPUT_BUFFER: usize = 4096;

/// `--color`: whether the `[N] ` prefixes are coloured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorChoice {
    Auto,
    Always,
    Never,
}

/// 256-colour ANSI codes for vCPUs 0-3: green, cyan, purple, pink.
const PREFIX_COLORS: [u8; 4] = [46, 45, 93, 198];

/// Where every vCPU's output ends up (stdout, or a buffer in tests): a [`Queue`] drained by a
/// writer thread, so a vCPU never blocks in write(2).
pub struct OutputSink {
    queue: Queue,
    /// Flush at every line end: stdout is a terminal someone is watching.
    line_buffered: bool,
    /// Prefix lines with `[N] ` (more than one vCPU).
    prefixed: bool,
    color: bool,
}

impl OutputSink {
    /// The process's stdout (a duplicate of fd 1, written unbuffered by its own thread).
    pub fn stdout(prefixed: bool, color: ColorChoice) -> std::io::Result<OutputSink> {
        let stdout = std::io::stdout();
        let is_tty = stdout.is_terminal();
        let file = std::fs::File::from(stdout.as_fd().try_clone_to_owned()?);
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_tty && std::env::var_os("NO_COLOR").is_none(),
        };
        let line_flag = is_tty.then_some(&STDOUT_LINE_OPEN);
        Ok(OutputSink {
            queue: Queue::spawn("stdout", Box::new(file), line_flag)?,
            line_buffered: is_tty,
            prefixed,
            color,
        })
    }

    /// A sink writing into any writer (tests use a shared Vec).
    #[cfg(test)]
    pub fn new(
        writer: Box<dyn std::io::Write + Send>,
        line_buffered: bool,
        prefixed: bool,
    ) -> OutputSink {
        OutputSink {
            queue: Queue::spawn("test-output", writer, None).expect("a test thread starts"),
            line_buffered,
            prefixed,
            color: false,
        }
    }

    /// The queue to stdout, for the main thread's final wait.
    pub fn queue(&self) -> &Queue {
        &self.queue
    }

    /// Tests: waits until the writer thread has written everything queued.
    #[cfg(test)]
    pub fn drain(&self) {
        assert!(self
            .queue
            .drain_until(std::time::Instant::now() + std::time::Duration::from_secs(10)));
    }

    /// The `[N] ` prefix for vCPU `index`, coloured if enabled.
    fn prefix(&self, index: usize) -> Vec<u8> {
        if self.color {
            let code = PREFIX_COLORS[index % PREFIX_COLORS.len()];
            format!("\x1b[38;5;{code}m[{index}]\x1b[0m ").into_bytes()
        } else {
            format!("[{index}] ").into_bytes()
        }
    }
}

/// Shared between a vCPU thread and the main thread: "output is waiting" and a flush counter, so
/// the main thread can tell bytes that have waited a whole tick from new ones.
#[derive(Default)]
pub struct FlushState {
    waiting: AtomicBool,
    flushes: AtomicU64,
}

impl FlushState {
    /// (bytes waiting, number of flushes so far).
    pub fn snapshot(&self) -> (bool, u64) {
        (
            self.waiting.load(Ordering::Relaxed),
            self.flushes.load(Ordering::Relaxed),
        )
    }
}

/// One vCPU's output buffer.
pub struct GuestOutput {
    sink: Arc<OutputSink>,
    prefix: Option<Vec<u8>>,
    buf: Vec<u8>,
    /// Prefixed mode: where the line being collected starts in `buf`.
    line_start: usize,
    /// A flush was due but the queue had no room: the guest must wait before running on.
    pending: bool,
    state: Arc<FlushState>,
}

impl GuestOutput {
    pub fn new(sink: Arc<OutputSink>, index: usize) -> GuestOutput {
        let prefix = sink.prefixed.then(|| sink.prefix(index));
        GuestOutput {
            sink,
            prefix,
            buf: Vec::with_capacity(OUTPUT_BUFFER + 64),
            line_start: 0,
            pending: false,
            state: Arc::new(FlushState::default()),
        }
    }

    /// Tests: waits until everything handed over has been written.
    #[cfg(test)]
    pub fn drain(&self) {
        self.sink.drain();
    }

    pub fn flush_state(&self) -> Arc<FlushState> {
        Arc::clone(&self.state)
    }

    /// One byte from the guest.
    pub fn push(&mut self, byte: u8) -> std::io::Result<()> {
        match &self.prefix {
            None => {
                if self.buf.is_empty() {
                    self.state.waiting.store(true, Ordering::Relaxed);
                }
                self.buf.push(byte);
                if self.buf.len() >= OUTPUT_BUFFER || (byte == b'\n' && self.sink.line_buffered) {
                    return self.flush();
                }
            }
            Some(prefix) => {
                if self.buf.len() == self.line_start {
                    self.buf.extend_from_slice(prefix);
                }
                self.buf.push(byte);
                if byte == b'\n' {
                    self.line_start = self.buf.len();
                    return self.flush();
                }
                if self.buf.len() - self.line_start >= OUTPUT_BUFFER {
                    // A line too long to hold: end it here rather than grow without bound.
                    self.buf.push(b'\n');
                    self.line_start = self.buf.len();
                    return self.flush();
                }
            }
        }
        Ok(())
    }

    /// Hands what can be written now (everything, or in prefixed mode every complete line) to
    /// the writer thread, if its queue has room; never waits. Bytes that do not fit stay here
    /// and [`GuestOutput::backlogged`] says so, for the run loop to wait before the next
    /// KVM_RUN. An error is the writer's: an earlier write(2) failed (EPIPE, ENOSPC...).
    pub fn flush(&mut self) -> std::io::Result<()> {
        let end = self.ready();
        if end == 0 {
            self.note_flushed();
            return Ok(());
        }
        if self.sink.queue.try_push(&self.buf[..end])? {
            self.buf.drain(..end);
            self.line_start = 0;
            self.note_flushed();
        } else {
            self.pending = true;
        }
        Ok(())
    }

    fn note_flushed(&mut self) {
        self.pending = false;
        self.state.flushes.fetch_add(1, Ordering::Relaxed);
        self.state.waiting.store(false, Ordering::Relaxed);
    }

    /// Bytes that a flush would hand over now.
    fn ready(&self) -> usize {
        if self.prefix.is_some() {
            self.line_start
        } else {
            self.buf.len()
        }
    }

    /// Bytes are waiting for room in the queue (stdout is slower than the guest): the guest
    /// must not run on, or the buffer would grow without bound.
    pub fn backlogged(&self) -> bool {
        self.pending || self.ready() >= OUTPUT_BUFFER
    }

    /// Waits until the backlog is handed over or `give_up` says stop (a stop request, a
    /// debugger pause); the caller checks which.
    pub fn wait_for_room(&mut self, give_up: &dyn Fn() -> bool) -> std::io::Result<()> {
        loop {
            if self.ready() >= OUTPUT_BUFFER {
                self.pending = true;
            }
            if self.pending {
                self.flush()?;
            }
            if !self.backlogged() || give_up() {
                return Ok(());
            }
            self.sink.queue.wait_for_room(Duration::from_millis(20));
        }
    }

    /// The vCPU stopped: a partial prefixed line gets its newline, and everything is handed to
    /// the writer: waiting as long as needed while the run goes on normally, at most
    /// [`VCPU_GRACE`] once it is being stopped (the reader is then not keeping up; the grace
    /// is part of the stop budget, stop_budget.rs).
    pub fn finish(&mut self) -> std::io::Result<()> {
        if self.prefix.is_some() && self.buf.len() > self.line_start {
            self.buf.push(b'\n');
            self.line_start = self.buf.len();
        }
        let mut stopping_since: Option<Instant> = None;
        loop {
            self.pending = true;
            self.flush()?;
            if !self.pending {
                return Ok(());
            }
            if hurrying() {
                let since = *stopping_since.get_or_insert_with(Instant::now);
                if since.elapsed() >= VCPU_GRACE {
                    return Ok(());
                }
            }
            self.sink.queue.wait_for_room(Duration::from_millis(20));
        }
    }
}

/// A vCPU's output as the devices see it (devices/mod.rs).
impl crate::devices::ByteSink for GuestOutput {
    fn push(&mut self, byte: u8) -> std::io::Result<()> {
        GuestOutput::push(self, byte)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        GuestOutput::flush(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::sync::Mutex;

    /// A writer whose contents the test can inspect, recording each write(2) separately.
    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<Vec<u8>>>>);
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().push(buf.to_vec());
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    impl Capture {
        fn writes(&self) -> Vec<String> {
            let w = self.0.lock().unwrap();
            w.iter()
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .collect()
        }
    }

    fn output(line_buffered: bool, prefixed: bool, index: usize) -> (GuestOutput, Capture) {
        let cap = Capture::default();
        let sink = Arc::new(OutputSink::new(
            Box::new(cap.clone()),
            line_buffered,
            prefixed,
        ));
        (GuestOutput::new(sink, index), cap)
    }

    fn push_str(out: &mut GuestOutput, s: &str) {
        for b in s.bytes() {
            out.push(b).unwrap();
        }
    }

    /// What reached the writer once its thread has written everything handed over so far.
    fn written(out: &GuestOutput, cap: &Capture) -> Vec<String> {
        out.sink.drain();
        cap.writes()
    }

    #[test]
    fn single_vcpu_to_a_pipe_writes_once_at_the_end() {
        let (mut out, cap) = output(false, false, 0);
        push_str(&mut out, "Hello, KVM!\nsecond\n");
        assert!(
            written(&out, &cap).is_empty(),
            "a pipe is not line buffered"
        );
        out.finish().unwrap();
        assert_eq!(written(&out, &cap), vec!["Hello, KVM!\nsecond\n"]);
    }

    #[test]
    fn single_vcpu_on_a_terminal_writes_each_line() {
        let (mut out, cap) = output(true, false, 0);
        push_str(&mut out, "a\nb");
        assert_eq!(written(&out, &cap), vec!["a\n"]);
        out.flush().unwrap(); // e.g. the guest asks for input after printing a prompt
        assert_eq!(written(&out, &cap), vec!["a\n", "b"]);
    }

    #[test]
    fn a_full_buffer_is_written_without_waiting() {
        let (mut out, cap) = output(false, false, 0);
        push_str(&mut out, &"x".repeat(OUTPUT_BUFFER + 10));
        let writes = written(&out, &cap);
        assert_eq!(writes.len(), 1);
        assert_eq!(writes[0].len(), OUTPUT_BUFFER);
    }

    #[test]
    fn prefixed_lines_are_written_whole_and_finished_at_stop() {
        let (mut out, cap) = output(false, true, 2);
        push_str(&mut out, "one\ntw");
        out.flush().unwrap(); // a partial line stays back
        assert_eq!(written(&out, &cap), vec!["[2] one\n"]);
        push_str(&mut out, "o");
        out.finish().unwrap();
        assert_eq!(written(&out, &cap), vec!["[2] one\n", "[2] two\n"]);
    }

    #[test]
    fn an_endless_prefixed_line_is_broken_not_buffered_forever() {
        let (mut out, cap) = output(false, true, 1);
        push_str(&mut out, &"y".repeat(OUTPUT_BUFFER * 2));
        let text = written(&out, &cap).concat();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "two broken lines are out, the rest waits");
        assert!(lines.iter().all(|l| l.starts_with("[1] yyy")));
    }

    #[test]
    fn flush_state_tracks_waiting_bytes() {
        let (mut out, _cap) = output(false, false, 0);
        let state = out.flush_state();
        assert_eq!(state.snapshot(), (false, 0));
        out.push(b'a').unwrap();
        assert_eq!(state.snapshot(), (true, 0));
        out.flush().unwrap();
        assert_eq!(state.snapshot(), (false, 1));
    }

    /// A writer that takes nothing until the test opens it, then takes everything.
    struct Gate(Arc<(Mutex<bool>, std::sync::Condvar)>, Capture);
    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            let (open, cv) = &*self.0;
            let mut o = open.lock().unwrap();
            while !*o {
                o = cv.wait(o).unwrap();
            }
            self.1.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_blocked_stdout_backlogs_the_vcpu_and_loses_nothing() {
        let gate = Arc::new((Mutex::new(false), std::sync::Condvar::new()));
        let cap = Capture::default();
        let writer = Gate(Arc::clone(&gate), cap.clone());
        let sink = Arc::new(OutputSink::new(Box::new(writer), false, false));
        let mut out = GuestOutput::new(sink, 0);
        let mut pushed = 0usize;
        while !out.backlogged() {
            out.push(b'0' + (pushed % 10) as u8).unwrap();
            pushed += 1;
            assert!(
                pushed < 10 * super::super::queue::QUEUE_CAPACITY,
                "never backlogged"
            );
        }
        // The run loop's wait gives up when asked to (a stop request, a debugger pause)...
        out.wait_for_room(&|| true).unwrap();
        assert!(out.backlogged());
        // ...and otherwise returns once the reader takes bytes again.
        *gate.0.lock().unwrap() = true;
        gate.1.notify_all();
        out.wait_for_room(&|| false).unwrap();
        assert!(!out.backlogged());
        out.finish().unwrap();
        let text = written(&out, &cap).concat();
        assert_eq!(text.len(), pushed);
        assert!(text
            .bytes()
            .enumerate()
            .all(|(i, b)| b == b'0' + (i % 10) as u8));
    }

    #[test]
    fn colour_wraps_only_the_prefix() {
        let sink = OutputSink {
            queue: Queue::spawn("test", Box::new(Vec::new()), None).unwrap(),
            line_buffered: false,
            prefixed: true,
            color: true,
        };
        assert_eq!(sink.prefix(1), b"\x1b[38;5;45m[1]\x1b[0m ".to_vec());
    }
}
