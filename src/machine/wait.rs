//! Running a built VM: the signal, stdin, vCPU and gdb threads; waiting for the vCPUs, the
//! timeout, signals and stale output; and turning how it ended into one exit status.

use super::control::{Event, StopCause, StopSignals};
use super::Config;
use super::{note, Threads, FLUSH_TICK, RING_TICK};
use crate::console::input::spawn_stdin_reader;
use crate::error::{status, Error};
use crate::fault::{location, register_dump};
use crate::gdb;
use crate::vcpu::{VcpuOutcome, VcpuReport};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::Signal;
use std::cell::Cell;
use std::io::Read;
use std::os::fd::AsFd;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Once a stop was asked for, how long mini-kvm waits for a stdout that takes no more output
/// before it leaves anyway: "within 1 s of the request" with room to spare.
const STOP_GRACE: Duration = Duration::from_millis(500);

/// Every this many output ticks (20 ms), vCPUs that KVM may keep in HLT are kicked to see
/// whether they halted for good: a `cli; hlt` ends the run within a quarter of a second.
const HALT_CHECK_TICKS: u64 = 12;

/// The process exit status: the first early stop wins; otherwise the first non-zero status a
/// guest asked for; otherwise 0.
pub fn final_status(first_cause: Option<StopCause>, first_guest_status: Option<u8>) -> i32 {
    match first_cause {
        Some(StopCause::Fault) => status::GUEST_FAULT,
        Some(StopCause::HostError) => status::HOST_FAILURE,
        Some(StopCause::Timeout) => status::TIMEOUT,
        Some(StopCause::Signal(_) | StopCause::Quit | StopCause::Killed) => status::INTERRUPTED,
        None => first_guest_status.map_or(status::OK, i32::from),
    }
}

/// Starts the signal, stdin and vCPU threads, then waits for the vCPUs to stop.
pub fn start_and_wait(
    opts: &Config,
    signals: &StopSignals,
    threads: Threads,
) -> Result<(Option<StopCause>, Vec<VcpuReport>), Error> {
    let Threads {
        runners,
        control,
        events,
        wake,
        flush_states,
        input,
        raw_terminal,
        gdb,
        sink,
        ring_watch,
        watch_halt,
    } = threads;
    let control = &control;
    let host = |what: &str, e: std::io::Error| Error::Host(format!("{what}: {e}"));

    // The stdin reader: at once on a terminal (Ctrl-A x must work even if the guest never
    // reads), otherwise only when the guest first asks for input.
    let c = Arc::clone(control);
    let reader_input = Arc::clone(&input);
    let start_reader = move || {
        // No reader means no input: the guest then sees end of input rather than a hang.
        if spawn_stdin_reader(
            Arc::clone(&reader_input),
            raw_terminal,
            Box::new(move || c.send(Event::Quit)),
        )
        .is_err()
        {
            reader_input.end();
        }
    };
    if raw_terminal {
        start_reader();
    } else {
        input.start_reader_on_first_use(Box::new(start_reader));
    }

    // From here on mini-kvm only runs what it built: confine it before the first KVM_RUN, on
    // every thread (the console threads already exist; TSYNC), see confine.rs.
    if opts.seccomp {
        let instructions = crate::confine::confine().map_err(Error::Host)?;
        note(|| {
            format!(
                "seccomp: on: an allow-list of {} system calls ({instructions} BPF \
                 instructions) from now on; --no-seccomp turns it off",
                crate::confine::rules().len()
            )
        });
    } else {
        note(|| "seccomp: off (--no-seccomp)".into());
    }
    let n = runners.len();
    note(|| format!("starting {n} vCPU thread(s)"));
    let mut threads = Vec::with_capacity(n);
    for runner in runners {
        let (index, name, control) = (
            runner.index,
            runner.name.clone(),
            Arc::clone(&runner.control),
        );
        let thread = std::thread::Builder::new()
            .name(format!("vcpu{index}"))
            .spawn(move || {
                // A bug in mini-kvm must not leave the main thread waiting forever for this
                // vCPU's report: turn a panic into a host error.
                let run = std::panic::AssertUnwindSafe(|| runner.run());
                if std::panic::catch_unwind(run).is_err() {
                    control.unregister(index);
                    control.report(VcpuReport::host_error(
                        index,
                        name,
                        "the vCPU thread panicked (a bug in mini-kvm)".into(),
                    ));
                }
            })
            .map_err(|e| host("starting a vCPU thread", e))?;
        threads.push(thread);
    }

    let gdb_thread = match gdb {
        Some(gdb) => {
            let (kick, kill, stopping) = (
                Arc::clone(control),
                Arc::clone(control),
                Arc::clone(control),
            );
            let vm = gdb::VmControls {
                kick: Box::new(move |i| kick.kick(i)),
                kill: Box::new(move || kill.send(Event::Killed)),
                vm_stopping: Box::new(move || stopping.stop_requested()),
            };
            Some(gdb::spawn_server(gdb, vm).map_err(|e| host("starting the gdb thread", e))?)
        }
        None => None,
    };

    let started = Instant::now();
    let deadline = signals.deadline();
    let mut next_tick = started + FLUSH_TICK;
    let mut next_ring_tick = started + RING_TICK;
    let mut ring_waited_at = None;
    let mut cause = None;
    // When a user's stop (timeout, signal, Ctrl-A x, gdb kill) was asked for.
    let stop_asked: Cell<Option<Instant>> = Cell::new(None);
    let note_stop = |cause: &mut Option<StopCause>, why: StopCause| {
        if cause.is_none() {
            *cause = Some(why);
            if !matches!(why, StopCause::Fault | StopCause::HostError) {
                stop_asked.set(Some(Instant::now()));
            }
        }
        control.request_stop();
    };
    let mut reports = Vec::with_capacity(n);
    let mut last_seen = vec![(false, 0u64); n];
    let mut ticks = 0u64;
    // Until every vCPU has reported and stdout has taken their output; once a stop was asked
    // for, at most STOP_GRACE for a stdout that is not taking it.
    loop {
        let output_done = sink.queue().is_drained()
            || stop_asked.get().is_some_and(|t| t.elapsed() >= STOP_GRACE);
        if reports.len() == n && output_done {
            break;
        }
        // Sleep in poll(2) until an event, a signal, the next output tick or the deadline.
        let mut until = next_tick;
        // The ring tick runs only once the guest's THR writes go to the ring: a guest that
        // does not print through COM1 costs the main thread no wake-ups.
        let ring = ring_watch
            .as_ref()
            .filter(|(_, engaged)| engaged.load(Ordering::Acquire))
            .map(|(w, _)| w);
        if ring.is_some() && reports.len() < n {
            until = until.min(next_ring_tick);
        }
        if let (Some(deadline), None) = (deadline, cause) {
            until = until.min(deadline);
        }
        let ms = until
            .saturating_duration_since(Instant::now())
            .as_millis()
            .min(60_000) as u16;
        let mut fds = [
            PollFd::new(signals.fd(), PollFlags::POLLIN),
            PollFd::new(wake.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(host("waiting for the vCPUs", e.into())),
        }
        if let Some(signal) = signals.take_signal() {
            note_stop(&mut cause, StopCause::Signal(signal));
        }
        let mut drain = [0u8; 64];
        if fds[1]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN))
        {
            let _ = (&wake).read(&mut drain);
        }
        while let Ok(event) = events.try_recv() {
            match event {
                Event::VcpuStopped(report) => {
                    let early = match report.outcome {
                        VcpuOutcome::Fault(_) => Some(StopCause::Fault),
                        VcpuOutcome::HostError(_) => Some(StopCause::HostError),
                        _ => None,
                    };
                    if let Some(early) = early {
                        note_stop(&mut cause, early);
                    }
                    if let VcpuOutcome::MachineOff(_) = report.outcome {
                        // A reset or power-off is the whole machine's: the other vCPUs stop
                        // too, and the run still ends with status 0.
                        control.request_stop();
                    }
                    reports.push(*report);
                }
                Event::Quit => note_stop(&mut cause, StopCause::Quit),
                Event::Killed => note_stop(&mut cause, StopCause::Killed),
            }
        }
        let now = Instant::now();
        if deadline.is_some_and(|d| now >= d) && cause.is_none() {
            note_stop(&mut cause, StopCause::Timeout);
        }
        if now >= next_ring_tick {
            next_ring_tick = now + RING_TICK;
            // The same coalesced write still the oldest in the ring a tick later: nothing
            // drained it for a whole tick, so kick the vCPU, which applies the ring before it
            // handles the kick (vcpu.rs) and flushes its output. A byte waits at most about
            // two ticks, and a guest that exits anyway within a tick (an LSR poll, a full
            // ring) is not kicked: its exits do not depend on when the ticks fall.
            let waiting = ring.and_then(|w| w.waiting_at());
            if waiting.is_some() && waiting == ring_waited_at {
                control.kick(0);
            }
            ring_waited_at = waiting;
        }
        if now >= next_tick {
            next_tick = now + FLUSH_TICK;
            ticks += 1;
            if watch_halt && ticks.is_multiple_of(HALT_CHECK_TICKS) {
                // KVM runs HLT itself here: a kick lets each vCPU look whether it is halted
                // with interrupts off, off for good (vcpu.rs).
                for i in 0..n {
                    control.kick(i);
                }
            }
            // Bytes that waited a whole tick: kick their vCPU so it writes them.
            for (i, state) in flush_states.iter().enumerate() {
                let seen = state.snapshot();
                if seen.0 && seen == last_seen[i] {
                    control.kick(i);
                }
                last_seen[i] = seen;
            }
        }
    }
    for thread in threads {
        // A vCPU thread has sent its report as its last act; join only reaps it. A panic in
        // one would already have been reported through the panic hook.
        let _ = thread.join();
    }
    // Let a connected gdb hear that the guest exited (W00) before the process goes.
    if let Some((thread, connected)) = gdb_thread {
        let until = Instant::now() + Duration::from_secs(2);
        while connected.load(Ordering::SeqCst) && !thread.is_finished() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    reports.sort_by_key(|r| r.index);
    Ok((cause, reports))
}

/// Prints what happened on stderr and returns the exit status.
pub fn report(opts: &Config, cause: Option<StopCause>, reports: &[VcpuReport]) -> i32 {
    let mut first_status = None;
    for r in reports {
        let who = format!("vCPU {} ({})", r.index, r.name);
        match &r.outcome {
            VcpuOutcome::Fault(fault) => {
                let place = match (&fault.regs, &fault.sregs) {
                    (Some(regs), Some(sregs)) => format!(" at {}", location(regs, sregs)),
                    _ => String::new(),
                };
                diag!("mini-kvm: guest fault on {who}: {}{place}", fault.reason);
                if let (true, Some(regs), Some(sregs)) = (opts.verbose, &fault.regs, &fault.sregs) {
                    diag!("{}", register_dump(regs, sregs));
                }
            }
            VcpuOutcome::HostError(why) => diag!("mini-kvm: error: {who}: {why}"),
            VcpuOutcome::Exited(s) => {
                first_status.get_or_insert((who.clone(), *s));
                note(|| format!("{who} exited with status {s}"));
            }
            VcpuOutcome::Halted => note(|| format!("{who} stopped normally")),
            VcpuOutcome::Stopped => note(|| format!("{who} was stopped")),
            VcpuOutcome::MachineOff(why) => note(|| format!("{who}: {why}")),
        }
        note(|| format!("{who}: {}", r.stats.summary()));
        if opts.verbose || opts.stats {
            for (port, reads, writes) in &r.unclaimed_ports {
                let name = match crate::devices::unclaimed_port_name(*port) {
                    "unknown" => String::new(),
                    name => format!(" ({name})"),
                };
                diag!(
                    "mini-kvm: {who}: unclaimed port {port:#06x}{name}: {reads} reads (all ones), \
                     {writes} writes (ignored)"
                );
            }
            let (reads, writes) = r.unclaimed_mmio;
            if reads + writes > 0 {
                diag!(
                    "mini-kvm: {who}: MMIO with no memory behind it: {reads} reads (all ones), \
                     {writes} writes (dropped)"
                );
            }
        }
        if opts.stats {
            diag!(
                "{}",
                r.stats.table(&format!("mini-kvm stats: {who}")).trim_end()
            );
        }
    }
    if let Some(message) = stop_message(cause, opts.timeout) {
        diag!("{message}");
    }
    if let (None, Some((who, s))) = (cause, &first_status) {
        if COLLIDING_STATUSES.contains(&i32::from(*s)) {
            diag!(
                "mini-kvm: {who} chose exit status {s} itself (EXIT_STATUS): it comes from the \
                 guest, not from mini-kvm"
            );
        }
    }
    final_status(cause, first_status.map(|(_, s)| s))
}

/// The statuses mini-kvm itself uses; a guest choosing one gets a line saying it was the guest.
pub const COLLIDING_STATUSES: [i32; 7] = [1, 2, 3, 4, 5, 124, 130];

/// The line for a run stopped from outside, if it was.
pub fn stop_message(cause: Option<StopCause>, timeout: Option<Duration>) -> Option<String> {
    Some(match cause? {
        StopCause::Timeout => {
            let secs = timeout.map_or(0.0, |t| t.as_secs_f64());
            format!("mini-kvm: timeout: stopped the guest after {secs} s (--timeout)")
        }
        StopCause::Signal(s) => {
            let name = Signal::try_from(s).map_or("a signal", |s| s.as_str());
            format!("mini-kvm: stopped by {name}")
        }
        StopCause::Quit => "mini-kvm: stopped by Ctrl-A x".into(),
        StopCause::Killed => "mini-kvm: stopped by gdb (kill)".into(),
        StopCause::Fault | StopCause::HostError => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_early_stop_wins_over_guest_statuses() {
        assert_eq!(final_status(None, None), 0);
        assert_eq!(final_status(None, Some(7)), 7);
        assert_eq!(final_status(Some(StopCause::Fault), Some(7)), 5);
        assert_eq!(final_status(Some(StopCause::HostError), None), 1);
        assert_eq!(final_status(Some(StopCause::Timeout), Some(3)), 124);
        assert_eq!(final_status(Some(StopCause::Signal(2)), None), 130);
        assert_eq!(final_status(Some(StopCause::Quit), None), 130);
    }
}
