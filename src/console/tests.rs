//! Unit tests of a vCPU's output buffer, written to a pipe read here.

use super::*;
use std::io::Read;

/// An output for vCPU `index` that writes into a pipe, and the pipe's read end.
fn piped(index: usize, several: bool, color: Option<bool>) -> (Output, std::fs::File) {
    let (read, write) = nix::unistd::pipe().expect("a pipe");
    nix::fcntl::fcntl(&read, nix::fcntl::FcntlArg::F_SETFL(nix::fcntl::OFlag::O_NONBLOCK))
        .expect("a non-blocking read end");
    (Output::new(index, several, color).writing_to(write), std::fs::File::from(read))
}

/// What the pipe holds now.
fn taken(pipe: &mut std::fs::File) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    while let Ok(n @ 1..) = pipe.read(&mut buf) {
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8(got).expect("test bytes are UTF-8")
}

fn push_all(out: &mut Output, bytes: &[u8]) {
    for &b in bytes {
        out.push(b).expect("a pipe with room");
    }
}

#[test]
fn one_vcpu_s_bytes_wait_for_a_flush_or_a_full_buffer() {
    let (mut out, mut pipe) = piped(0, false, Some(false));
    push_all(&mut out, b"Hello\nworld");
    assert_eq!(taken(&mut pipe), "", "not a terminal: a newline does not write");
    assert!(out.pending.snapshot().0, "bytes wait");
    out.flush().expect("flush");
    assert_eq!(taken(&mut pipe), "Hello\nworld");
    assert!(!out.pending.snapshot().0);
    push_all(&mut out, &[b'x'; OUTPUT_BUFFER]);
    assert_eq!(taken(&mut pipe).len(), OUTPUT_BUFFER, "a full buffer leaves in one write");
    out.finish().expect("finish");
    assert_eq!(taken(&mut pipe), "", "nothing was left");
}

#[test]
fn several_vcpus_write_whole_prefixed_lines() {
    let (mut out, mut pipe) = piped(2, true, Some(false));
    push_all(&mut out, b"one\ntw");
    assert_eq!(taken(&mut pipe), "[2] one\n");
    out.flush().expect("flush");
    assert_eq!(taken(&mut pipe), "", "a partial line waits for its end");
    push_all(&mut out, b"o\n\n");
    assert_eq!(taken(&mut pipe), "[2] two\n[2] \n");
    push_all(&mut out, b"end");
    out.finish().expect("finish");
    assert_eq!(taken(&mut pipe), "[2] end\n", "the vCPU stopped: the line gets its newline");
}

#[test]
fn a_line_too_long_to_hold_is_broken_and_prefixed_again() {
    let (mut out, mut pipe) = piped(1, true, Some(false));
    push_all(&mut out, &vec![b'a'; OUTPUT_BUFFER + 10]);
    out.finish().expect("finish");
    let text = taken(&mut pipe);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text:.80}");
    assert!(lines[0].starts_with("[1] aaa") && lines[1].starts_with("[1] aaa"));
    assert_eq!(lines[0].len() + lines[1].len(), 2 * "[1] ".len() + OUTPUT_BUFFER + 10);
}

#[test]
fn coloured_prefixes_use_each_vcpu_s_colour_and_reset() {
    let (mut out, mut pipe) = piped(1, true, Some(true));
    push_all(&mut out, b"hi\n");
    assert_eq!(taken(&mut pipe), "\x1b[38;5;45m[1]\x1b[0m hi\n");
    let (mut out, mut pipe) = piped(5, true, Some(true));
    push_all(&mut out, b"hi\n");
    assert_eq!(taken(&mut pipe), "\x1b[38;5;45m[5]\x1b[0m hi\n", "colours repeat after four");
}

#[test]
fn pending_moves_with_each_write_and_sees_output_waiting_elsewhere() {
    let (mut out, _pipe) = piped(0, false, Some(false));
    let (waiting, before) = out.pending.snapshot();
    assert!(!waiting);
    out.push(b'x').expect("push");
    out.flush().expect("flush");
    let (_, after) = out.pending.snapshot();
    assert_ne!(before, after, "a write moves the count");
    let _ = out.pending.also.set(Box::new(|| Some(7)));
    let (waiting, moved) = out.pending.snapshot();
    assert!(waiting, "bytes in the coalesced ring wait too");
    assert_ne!(moved, after, "and where they are moves the count");
}

#[test]
fn a_closed_reader_is_a_host_error_not_a_panic() {
    let (mut out, pipe) = piped(0, false, Some(false));
    drop(pipe);
    push_all(&mut out, b"lost");
    // SIGPIPE is ignored in Rust programs: the write fails with EPIPE.
    match out.flush() {
        Err(Ending::Host(text)) => {
            assert!(text.starts_with("writing guest output failed"), "{text}")
        }
        other => panic!("{other:?}"),
    }
}
