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

use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

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

/// Where every vCPU's output ends up (stdout, or a buffer in tests).
pub struct OutputSink {
    writer: Mutex<Box<dyn Write + Send>>,
    /// Flush at every line end: stdout is a terminal someone is watching.
    line_buffered: bool,
    /// Prefix lines with `[N] ` (more than one vCPU).
    prefixed: bool,
    color: bool,
}

impl OutputSink {
    /// The process's stdout (a duplicate of fd 1, written unbuffered).
    pub fn stdout(prefixed: bool, color: ColorChoice) -> std::io::Result<OutputSink> {
        let stdout = std::io::stdout();
        let is_tty = stdout.is_terminal();
        let file = std::fs::File::from(stdout.as_fd().try_clone_to_owned()?);
        let color = match color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => is_tty && std::env::var_os("NO_COLOR").is_none(),
        };
        Ok(OutputSink {
            writer: Mutex::new(Box::new(file)),
            line_buffered: is_tty,
            prefixed,
            color,
        })
    }

    /// A sink writing into any writer (tests use a shared Vec).
    #[cfg(test)]
    pub fn new(writer: Box<dyn Write + Send>, line_buffered: bool, prefixed: bool) -> OutputSink {
        OutputSink {
            writer: Mutex::new(writer),
            line_buffered,
            prefixed,
            color: false,
        }
    }

    fn write_all(&self, bytes: &[u8]) -> std::io::Result<()> {
        // A poisoned lock only means another vCPU thread panicked mid-write; the writer itself
        // is still usable, so keep going rather than losing this vCPU's output too.
        let mut writer = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        writer.write_all(bytes)?;
        writer.flush()
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
            state: Arc::new(FlushState::default()),
        }
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

    /// Writes what can be written now: everything, or in prefixed mode every complete line.
    pub fn flush(&mut self) -> std::io::Result<()> {
        let end = if self.prefix.is_some() {
            self.line_start
        } else {
            self.buf.len()
        };
        self.state.flushes.fetch_add(1, Ordering::Relaxed);
        self.state.waiting.store(false, Ordering::Relaxed);
        if end == 0 {
            return Ok(());
        }
        let result = self.sink.write_all(&self.buf[..end]);
        self.buf.drain(..end);
        self.line_start = 0;
        result
    }

    /// The vCPU stopped: a partial prefixed line gets its newline, and everything is written.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if self.prefix.is_some() && self.buf.len() > self.line_start {
            self.buf.push(b'\n');
            self.line_start = self.buf.len();
        }
        self.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn single_vcpu_to_a_pipe_writes_once_at_the_end() {
        let (mut out, cap) = output(false, false, 0);
        push_str(&mut out, "Hello, KVM!\nsecond\n");
        assert!(cap.writes().is_empty(), "a pipe is not line buffered");
        out.finish().unwrap();
        assert_eq!(cap.writes(), vec!["Hello, KVM!\nsecond\n"]);
    }

    #[test]
    fn single_vcpu_on_a_terminal_writes_each_line() {
        let (mut out, cap) = output(true, false, 0);
        push_str(&mut out, "a\nb");
        assert_eq!(cap.writes(), vec!["a\n"]);
        out.flush().unwrap(); // e.g. the guest asks for input after printing a prompt
        assert_eq!(cap.writes(), vec!["a\n", "b"]);
    }

    #[test]
    fn a_full_buffer_is_written_without_waiting() {
        let (mut out, cap) = output(false, false, 0);
        push_str(&mut out, &"x".repeat(OUTPUT_BUFFER + 10));
        assert_eq!(cap.writes().len(), 1);
        assert_eq!(cap.writes()[0].len(), OUTPUT_BUFFER);
    }

    #[test]
    fn prefixed_lines_are_written_whole_and_finished_at_stop() {
        let (mut out, cap) = output(false, true, 2);
        push_str(&mut out, "one\ntw");
        out.flush().unwrap(); // a partial line stays back
        assert_eq!(cap.writes(), vec!["[2] one\n"]);
        push_str(&mut out, "o");
        out.finish().unwrap();
        assert_eq!(cap.writes(), vec!["[2] one\n", "[2] two\n"]);
    }

    #[test]
    fn an_endless_prefixed_line_is_broken_not_buffered_forever() {
        let (mut out, cap) = output(false, true, 1);
        push_str(&mut out, &"y".repeat(OUTPUT_BUFFER * 2));
        let writes = cap.writes();
        assert_eq!(writes.len(), 2);
        assert!(writes[0].starts_with("[1] yyy") && writes[0].ends_with("y\n"));
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

    #[test]
    fn colour_wraps_only_the_prefix() {
        let sink = OutputSink {
            writer: Mutex::new(Box::new(Vec::new())),
            line_buffered: false,
            prefixed: true,
            color: true,
        };
        assert_eq!(sink.prefix(1), b"\x1b[38;5;45m[1]\x1b[0m ".to_vec());
    }
}
