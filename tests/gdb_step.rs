//! `--gdb`: `stepi` over every instruction of whole guests with a real gdb, through every
//! `in` and `out` (apart from tests/gdb.rs so that each test binary stays within the real-KVM
//! lane's time per binary: a stepi takes about a second there).

mod common;
mod gdb_common;
use common::*;
use gdb_common::*;

/// The instructions gdb showed after each stop (`display/i $pc`): (address, text).
fn displayed(transcript: &str) -> Vec<(u64, String)> {
    transcript
        .lines()
        .filter_map(|l| l.strip_prefix("=> 0x"))
        .filter_map(|l| {
            let (addr, text) = l.split_once(':')?;
            Some((u64::from_str_radix(addr, 16).ok()?, text.trim().to_string()))
        })
        .collect()
}

/// Steps every instruction of a real-mode guest, from the first to the guest's exit.
fn step_whole_guest(guest: &str, input: &[u8]) -> (String, String, String) {
    let child = start(&[guest], input);
    let script = "display/i $pc\nset $steps = 0\nwhile $steps < 20000\n  stepi\n  \
                  set $steps = $steps + 1\nend\n";
    let transcript = gdb_script(child.port, None, &format!("step-{guest}"), script);
    let (status, stdout, stderr) = finish(child);
    assert_eq!(status, 0, "{stderr}\n{transcript}");
    (transcript, stdout, stderr)
}

/// Every `in`/`out` was followed by a stop at the very next instruction (they are one byte),
/// and on a host that reports the step late gdb was told, once per I/O instruction.
fn assert_io_steps_exact(transcript: &str) {
    let shown = displayed(transcript);
    let io: Vec<usize> = (0..shown.len())
        .filter(|&i| shown[i].1.starts_with("out") || shown[i].1.starts_with("in "))
        .collect();
    assert!(!io.is_empty(), "{transcript}");
    for &i in &io {
        if i + 1 == shown.len() {
            continue; // the guest's exit hypercall: there is no next instruction
        }
        let next = shown.get(i + 1).map(|s| s.0);
        assert_eq!(next, Some(shown[i].0 + 1), "after {:?}:\n{transcript}", shown[i]);
    }
    let notes = transcript.matches("this KVM reported no single step for the").count();
    let late = host().is("io-out-rip", "after");
    // An `in` waits for its data on every KVM, so only the `out`s are late where they are.
    let outs = io.iter().filter(|&&i| shown[i].1.starts_with("out") && i + 1 < shown.len()).count();
    assert_eq!(notes, if late { outs } else { 0 }, "{transcript}");
}

#[test]
#[ignore = "needs gdb: `make test` installs it and runs this (or: cargo test -- --include-ignored)"]
fn stepi_walks_all_of_hello_through_every_out() {
    let (transcript, stdout, _) = step_whole_guest("hello", b"");
    assert_eq!(stdout, "Hello, KVM!\n");
    let shown = displayed(&transcript);
    // After the first (shown at connection): 12 characters x 8 + the last 3 + hlt; gdb saw
    // every one, the last the hlt.
    assert_eq!(shown.len(), 100, "{transcript}");
    assert!(shown.last().unwrap().1.starts_with("hlt"), "{transcript}");
    let outs = shown.iter().filter(|s| s.1.starts_with("out")).count();
    assert_eq!(outs, 12, "{transcript}");
    assert!(transcript.contains("exited normally"), "{transcript}");
    assert_io_steps_exact(&transcript);
}

#[test]
#[ignore = "needs gdb: `make test` installs it and runs this (or: cargo test -- --include-ignored)"]
fn stepi_walks_all_of_echo_through_every_in_and_out() {
    let (transcript, stdout, _) = step_whole_guest("echo", b"hi\n");
    assert_eq!(stdout, "hi\n");
    assert!(transcript.contains("exited normally"), "{transcript}");
    let shown = displayed(&transcript);
    assert!(shown.iter().any(|s| s.1.starts_with("in ")), "{transcript}");
    assert_io_steps_exact(&transcript);
}
