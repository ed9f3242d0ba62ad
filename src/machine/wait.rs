//! Running a built VM: the signal, stdin, vCPU and gdb threads; waiting for the vCPUs, the
//! timeout, signals and stale output. How the run ended is then told by report.rs.

use super::control::{Control, Event, StopCause, StopSignals};
use super::Config;
use super::{note, Threads, FLUSH_TICK, RING_TICK};
use crate::console::input::spawn_stdin_reader;
use crate::console::output::FlushState;
use crate::console::stop_budget::{self, StopBudget};
use crate::console::{HostInput, OutputSink};
use crate::error::Error;
use crate::gdb;
use crate::kvm::RingWatch;
use crate::vcpu::{VcpuOutcome, VcpuReport, VcpuRunner};
use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use std::io::{PipeReader, Read};
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Receiver;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Every this many output ticks (20 ms), vCPUs that KVM may keep in HLT are kicked to see
/// whether they halted for good: a `cli; hlt` ends the run within a quarter of a second.
const HALT_CHECK_TICKS: u64 = 12;

/// Starts the stdin, vCPU and gdb threads, then waits for the vCPUs to stop.
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
    start_stdin_reader(&control, &input, raw_terminal);
    confine(opts)?;
    let n = runners.len();
    let vcpu_threads = spawn_vcpus(runners)?;
    let gdb_thread = gdb.map(|gdb| spawn_gdb(gdb, &control)).transpose()?;
    let mut waiter = Waiter::new(&control, signals, n);
    // Until every vCPU has reported and stdout has taken their output; once a stop was asked
    // for, no later than the stop budget's share for stdout (console/stop_budget.rs).
    while !waiter.done(&sink) {
        // The ring tick runs only once the guest's THR writes go to the ring: a guest that
        // does not print through COM1 costs the main thread no wake-ups.
        let ring = ring_watch
            .as_ref()
            .filter(|(_, engaged)| engaged.load(Ordering::Acquire))
            .map(|(w, _)| w);
        waiter.sleep(&wake, ring.is_some())?;
        waiter.take_events(&events);
        let now = Instant::now();
        waiter.check_deadline(now);
        waiter.ring_tick(now, ring);
        waiter.flush_tick(now, &flush_states, watch_halt);
    }
    for thread in vcpu_threads {
        // A vCPU thread has sent its report as its last act; join only reaps it. A panic in
        // one would already have been reported through the panic hook.
        let _ = thread.join();
    }
    if let Some(gdb) = gdb_thread {
        // After a user's stop, gdb's wait is part of the stop budget (it began at the request,
        // while this thread waited for stdout).
        let until = Instant::now() + GDB_HEARS_THE_END;
        let until = waiter
            .stop_asked
            .map_or(until, |b| until.min(b.stdout_deadline()));
        let_gdb_hear_the_end(gdb, until);
    }
    waiter.check_lost_output(&sink, opts.trace.is_some());
    let Waiter { cause, reports, .. } = waiter;
    let mut reports = reports;
    reports.sort_by_key(|r| r.index);
    Ok((cause, reports))
}

fn host(what: &str, e: std::io::Error) -> Error {
    Error::Host(format!("{what}: {e}"))
}

/// The stdin reader: at once on a terminal (Ctrl-A x must work even if the guest never
/// reads), otherwise only when the guest first asks for input.
fn start_stdin_reader(control: &Arc<Control>, input: &Arc<HostInput>, raw_terminal: bool) {
    let c = Arc::clone(control);
    let reader_input = Arc::clone(input);
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
}

/// From here on mini-kvm only runs what it built: confine it before the first KVM_RUN, on
/// every thread (the console threads already exist; TSYNC), see confine.rs.
// [tour:confine-when]
fn confine(opts: &Config) -> Result<(), Error> {
    if !opts.seccomp {
        note(|| "seccomp: off (--no-seccomp)".into());
        return Ok(());
    }
    let instructions = crate::confine::confine().map_err(Error::Host)?;
    note(|| {
        format!(
            "seccomp: on: an allow-list of {} system calls ({instructions} BPF \
             instructions) from now on; --no-seccomp turns it off",
            crate::confine::rules().len()
        )
    });
    Ok(())
}
// [/tour:confine-when]

/// One thread per vCPU, each running its KVM_RUN loop (vcpu.rs).
fn spawn_vcpus(runners: Vec<VcpuRunner>) -> Result<Vec<JoinHandle<()>>, Error> {
    note(|| format!("starting {} vCPU thread(s)", runners.len()));
    let mut threads = Vec::with_capacity(runners.len());
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
    Ok(threads)
}

/// The gdb server's thread, given what it may do to the VM (gdb/mod.rs VmControls).
fn spawn_gdb(
    gdb: gdb::GdbSetup,
    control: &Arc<Control>,
) -> Result<(JoinHandle<()>, Arc<AtomicBool>), Error> {
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
    gdb::spawn_server(gdb, vm).map_err(|e| host("starting the gdb thread", e))
}

/// How long a connected gdb may take to hear how a run that ended by itself ended.
const GDB_HEARS_THE_END: Duration = Duration::from_secs(2);

/// Lets a connected gdb hear that the guest exited (W00) before the process goes, until
/// `until` at the latest.
fn let_gdb_hear_the_end((thread, connected): (JoinHandle<()>, Arc<AtomicBool>), until: Instant) {
    while connected.load(Ordering::SeqCst) && !thread.is_finished() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// The main thread while the vCPUs run: it sleeps in poll(2) and wakes for an event from a
/// thread, a signal, the deadline, or a tick (stale output, the coalesced ring, halts).
struct Waiter<'a> {
    control: &'a Control,
    signals: &'a StopSignals,
    vcpus: usize,
    /// The first reason the run stopped early, if any.
    cause: Option<StopCause>,
    /// Once a user's stop (timeout, signal, Ctrl-A x, gdb kill) was asked for: its deadlines.
    stop_asked: Option<StopBudget>,
    reports: Vec<VcpuReport>,
    next_tick: Instant,
    next_ring_tick: Instant,
    /// The oldest coalesced write at the last ring tick.
    ring_waited_at: Option<u32>,
    /// Each vCPU's output state at the last flush tick.
    last_seen: Vec<(bool, u64)>,
    ticks: u64,
}

impl<'a> Waiter<'a> {
    fn new(control: &'a Control, signals: &'a StopSignals, vcpus: usize) -> Waiter<'a> {
        let started = Instant::now();
        Waiter {
            control,
            signals,
            vcpus,
            cause: None,
            stop_asked: None,
            reports: Vec::with_capacity(vcpus),
            next_tick: started + FLUSH_TICK,
            next_ring_tick: started + RING_TICK,
            ring_waited_at: None,
            last_seen: vec![(false, 0); vcpus],
            ticks: 0,
        }
    }

    /// Every vCPU has reported and stdout has taken the output (or would not in time).
    fn done(&self, sink: &OutputSink) -> bool {
        let out_of_time = self
            .stop_asked
            .is_some_and(|b| Instant::now() >= b.stdout_deadline());
        let output_done = sink.queue().is_drained() || out_of_time;
        self.reports.len() == self.vcpus && output_done
    }

    /// Stops the VM; the first cause is the one that counts for the exit status. A user's stop
    /// starts the stop budget: from here on every wait on the way out (this thread's for
    /// stdout, the messages and the drain of stderr) shares one deadline.
    fn stop(&mut self, why: StopCause) {
        if self.cause.is_none() {
            self.cause = Some(why);
            if !matches!(why, StopCause::Fault | StopCause::HostError) {
                self.stop_asked = Some(stop_budget::start(Instant::now()));
            }
        }
        self.control.request_stop();
    }

    /// The run ended with no other cause, but a writer thread failed after the last push (the
    /// error reaches a vCPU only when it pushes again, console/queue.rs): the output was lost,
    /// so the run is a host failure, with the message a longer run gets from its vCPU. Which of
    /// the two notices first is a race, so the message must not depend on it: with one vCPU it
    /// names that vCPU as its own report would; with several, whose bytes were lost is unknown.
    /// `--trace` lines are output the user asked for as well; mini-kvm's other messages on a
    /// failing stderr are not counted (there is nowhere left to say so).
    fn check_lost_output(&mut self, sink: &OutputSink, tracing: bool) {
        if self.cause.is_some() {
            return;
        }
        let lost = match sink.queue().write_error() {
            Some(e) => Some(("writing guest output failed", e)),
            None if tracing => crate::console::errout::write_error()
                .map(|e| ("writing the --trace output (stderr) failed", e)),
            None => None,
        };
        if let Some((what, e)) = lost {
            self.cause = Some(StopCause::HostError);
            match self.reports.as_slice() {
                [only] if self.vcpus == 1 => {
                    diag!(
                        "mini-kvm: error: vCPU {} ({}): {what}: {e}",
                        only.index,
                        only.name
                    )
                }
                _ => diag!("mini-kvm: error: {what}: {e}"),
            }
        }
    }

    /// Sleeps in poll(2) until an event, a signal, the next tick or the deadline.
    fn sleep(&mut self, wake: &PipeReader, ring_engaged: bool) -> Result<(), Error> {
        let mut until = self.next_tick;
        if ring_engaged && self.reports.len() < self.vcpus {
            until = until.min(self.next_ring_tick);
        }
        if let (Some(deadline), None) = (self.signals.deadline(), self.cause) {
            until = until.min(deadline);
        }
        if let Some(budget) = self.stop_asked {
            // Leave the wait for stdout on time, not up to a tick late (once past, the ticks
            // alone wake this thread: a vCPU yet to report must not make it spin).
            if budget.stdout_deadline() > Instant::now() {
                until = until.min(budget.stdout_deadline());
            }
        }
        let ms = until
            .saturating_duration_since(Instant::now())
            .as_millis()
            .min(60_000) as u16;
        let mut fds = [
            PollFd::new(self.signals.fd(), PollFlags::POLLIN),
            PollFd::new(wake.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(host("waiting for the vCPUs", e.into())),
        }
        let woken = fds[1]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN));
        if let Some(signal) = self.signals.take_signal() {
            self.stop(StopCause::Signal(signal));
        }
        if woken {
            let mut drain = [0u8; 64];
            let _ = (&*wake).read(&mut drain);
        }
        Ok(())
    }

    /// What the threads sent: vCPU reports, Ctrl-A x, gdb's kill.
    fn take_events(&mut self, events: &Receiver<Event>) {
        while let Ok(event) = events.try_recv() {
            match event {
                Event::VcpuStopped(report) => {
                    match report.outcome {
                        VcpuOutcome::Fault(_) => self.stop(StopCause::Fault),
                        VcpuOutcome::HostError(_) => self.stop(StopCause::HostError),
                        // A reset or power-off is the whole machine's: the other vCPUs stop
                        // too, and the run still ends with status 0.
                        VcpuOutcome::MachineOff(_) => self.control.request_stop(),
                        _ => {}
                    }
                    self.reports.push(*report);
                }
                Event::Quit => self.stop(StopCause::Quit),
                Event::Killed => self.stop(StopCause::Killed),
            }
        }
    }

    fn check_deadline(&mut self, now: Instant) {
        if self.signals.deadline().is_some_and(|d| now >= d) && self.cause.is_none() {
            self.stop(StopCause::Timeout);
        }
    }

    /// The same coalesced write still the oldest in the ring a tick later: nothing drained it
    /// for a whole tick, so kick the vCPU, which applies the ring before it handles the kick
    /// (vcpu.rs) and flushes its output. A byte waits at most about two ticks, and a guest
    /// that exits anyway within a tick (an LSR poll, a full ring) is not kicked: its exits do
    /// not depend on when the ticks fall.
    fn ring_tick(&mut self, now: Instant, ring: Option<&RingWatch>) {
        if now < self.next_ring_tick {
            return;
        }
        self.next_ring_tick = now + RING_TICK;
        let waiting = ring.and_then(|w| w.waiting_at());
        if waiting.is_some() && waiting == self.ring_waited_at {
            self.control.kick(0);
        }
        self.ring_waited_at = waiting;
    }

    /// Bytes that waited a whole tick: kick their vCPU so it writes them. Now and then, with
    /// an in-kernel irqchip (KVM runs HLT itself), kick every vCPU so it can see whether it is
    /// halted with interrupts off, off for good (vcpu.rs).
    fn flush_tick(&mut self, now: Instant, flush_states: &[Arc<FlushState>], watch_halt: bool) {
        if now < self.next_tick {
            return;
        }
        self.next_tick = now + FLUSH_TICK;
        self.ticks += 1;
        if watch_halt && self.ticks.is_multiple_of(HALT_CHECK_TICKS) {
            for i in 0..self.vcpus {
                self.control.kick(i);
            }
        }
        for (i, state) in flush_states.iter().enumerate() {
            let seen = state.snapshot();
            if seen.0 && seen == self.last_seen[i] {
                self.control.kick(i);
            }
            self.last_seen[i] = seen;
        }
    }
}
