//! On a real terminal (tmux): Ctrl-A x ends a run whose stdout is a pipe nobody reads, with
//! status 130 and the terminal settings restored; and mini-kvm's own
//! message starts on a fresh line after a guest's unfinished one (point 3).

mod common;

use common::{test_guest, tmux::Tmux};
use std::time::Instant;

#[test]
#[ignore = "needs tmux: `make test` installs it and runs this (or: cargo test -- --include-ignored)"]
fn ctrl_a_x_ends_a_flood_into_a_pipe_nobody_reads() {
    // stdout is a FIFO whose only reader (sleep) never reads.
    let script = format!(
        "mkfifo DIR/never-read; sleep 60 < DIR/never-read & \
         stty -a > DIR/before; MINI_KVM -v {} > DIR/never-read; echo $? > DIR/status.tmp; \
         stty -a > DIR/after; mv DIR/status.tmp DIR/status; sleep 60",
        test_guest("flood")
    );
    let t = Tmux::start("ctrl-a-x", &script);
    t.wait_for("the vCPU to start", |t| t.screen().contains("starting 1 vCPU thread"));
    // A writer of our own on the FIFO shows when it is full: mini-kvm's output writer is then
    // stuck in write(2) and the guest paused, which is the case to stop.
    let probe = std::fs::OpenOptions::new()
        .write(true)
        .open(t.dir.join("never-read"))
        .expect("the FIFO has a reader, so it opens");
    t.wait_for("the FIFO to fill", |_| {
        use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
        use std::os::fd::AsFd;
        let mut fds = [PollFd::new(probe.as_fd(), PollFlags::POLLOUT)];
        poll(&mut fds, PollTimeout::ZERO).expect("poll works") == 0
    });
    let asked = Instant::now();
    t.keys(&["C-a", "x"]);
    t.wait_for("mini-kvm to end", |t| t.file("status").is_some());
    eprintln!("Ctrl-A x with a blocked stdout: ended within {:?}", asked.elapsed());
    assert_eq!(t.file("status").unwrap().trim(), "130", "{}", t.screen());
    assert!(t.screen().contains("mini-kvm: stopped by Ctrl-A x"), "{}", t.screen());
    assert_eq!(t.file("before"), t.file("after"), "terminal settings restored");
}

#[test]
#[ignore = "needs tmux: `make test` installs it and runs this (or: cargo test -- --include-ignored)"]
fn a_message_after_an_unfinished_guest_line_starts_a_line_of_its_own() {
    // PUTCHAR "Select: " (no newline), then spin until --timeout.
    let mut guest = vec![0xBA, 0x00, 0x05];
    for &c in b"Select: " {
        guest.extend_from_slice(&[0xB0, 0x01, 0xB3, c, 0xEE]);
    }
    guest.extend_from_slice(&[0xEB, 0xFE]);
    let guest_dir = std::env::temp_dir().join(format!("mini-kvm-prompt-{}", std::process::id()));
    std::fs::create_dir_all(&guest_dir).unwrap();
    let prompt = guest_dir.join("prompt.bin");
    std::fs::write(&prompt, &guest).unwrap();
    let t = Tmux::start(
        "fresh-line",
        &format!(
            "MINI_KVM --timeout 0.5 {}; echo $? > DIR/status.tmp; mv DIR/status.tmp DIR/status; sleep 60",
            prompt.display()
        ),
    );
    t.wait_for("mini-kvm to end", |t| t.file("status").is_some());
    assert_eq!(t.file("status").unwrap().trim(), "124");
    let screen = t.screen();
    let lines: Vec<&str> = screen.lines().map(str::trim_end).collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("mini-kvm: timeout"))
        .unwrap_or_else(|| panic!("no timeout line:\n{screen}"));
    assert!(at > 0 && lines[at - 1].ends_with("Select:"), "{screen}");
    std::fs::remove_dir_all(&guest_dir).unwrap();
}
