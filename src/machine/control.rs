//! How the main thread stops vCPU threads, and how they report back.
//!
//! Each vCPU thread registers a [`VcpuKick`] while it runs. Stopping the VM (timeout, Ctrl-A x,
//! SIGINT/SIGTERM, a fault on another vCPU) sets one flag and kicks every registered vCPU:
//! `immediate_exit` + a signal, so `KVM_RUN` returns EINTR whether the vCPU was inside the guest
//! or about to enter it (kvm/kick.rs explains why both are needed). A vCPU checks the flag before
//! every `KVM_RUN`. No thread is ever killed, so every vCPU flushes its output and reports.
//!
//! Threads talk to the main thread through one channel of [`Event`]s; each send also writes a
//! byte to a pipe, which is what the main thread's poll(2) waits on (with the signalfd).

pub use crate::error::StopCause;
use crate::kvm::VcpuKick;
use crate::vcpu::{RunControl, VcpuReport};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::Sender;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What the main thread waits for.
pub enum Event {
    /// A vCPU thread ended, with its report.
    VcpuStopped(Box<VcpuReport>),
    /// The user typed Ctrl-A x.
    Quit,
    /// gdb sent `k` (kill).
    Killed,
}

pub struct Control {
    stop: AtomicBool,
    running: Mutex<Vec<Option<VcpuKick>>>,
    events: Mutex<Sender<Event>>,
    /// Written after each event so the main thread's poll wakes up.
    wake: std::io::PipeWriter,
}

impl Control {
    pub fn new(vcpus: usize, events: Sender<Event>, wake: std::io::PipeWriter) -> Control {
        Control {
            stop: AtomicBool::new(false),
            running: Mutex::new((0..vcpus).map(|_| None).collect()),
            events: Mutex::new(events),
            wake,
        }
    }

    fn running(&self) -> MutexGuard<'_, Vec<Option<VcpuKick>>> {
        // The registry stays valid even if a thread panicked while holding the lock.
        self.running.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sends an event to the main thread (which may already be gone at exit: ignore that).
    pub fn send(&self, event: Event) {
        let _ = self
            .events
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(event);
        let _ = (&self.wake).write(&[1]);
    }

    /// Called by vCPU thread `index` before its first KVM_RUN.
    pub fn register(&self, index: usize, kick: VcpuKick) {
        if let Some(slot) = self.running().get_mut(index) {
            *slot = Some(kick);
        }
    }

    /// Called by vCPU thread `index` before it ends: after this it is never signalled again.
    pub fn unregister(&self, index: usize) {
        if let Some(slot) = self.running().get_mut(index) {
            *slot = None;
        }
    }

    /// Has the VM been asked to stop?
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Stops every vCPU: the flag first, then the kicks (the order that loses no wake-up).
    // [tour:request-stop]
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        // Threads waiting for room in an output queue stop waiting (console/queue.rs).
        crate::console::queue::hurry();
        for kick in self.running().iter().flatten() {
            kick.kick();
        }
    }
    // [/tour:request-stop]

    /// Kicks every other running vCPU out of KVM_RUN (a debugger stop on vCPU `index`).
    pub fn kick_others(&self, index: usize) {
        for (i, kick) in self.running().iter().enumerate() {
            if let (true, Some(kick)) = (i != index, kick) {
                kick.kick();
            }
        }
    }

    /// Kicks one vCPU out of KVM_RUN without stopping it (it flushes its output and goes on).
    pub fn kick(&self, index: usize) {
        if let Some(Some(kick)) = self.running().get(index) {
            kick.kick();
        }
    }
}

/// What a vCPU thread needs of the main thread (vcpu.rs): the same calls, seen from below.
impl RunControl for Control {
    fn register(&self, index: usize, kick: VcpuKick) {
        Control::register(self, index, kick)
    }
    fn unregister(&self, index: usize) {
        Control::unregister(self, index)
    }
    fn stop_requested(&self) -> bool {
        Control::stop_requested(self)
    }
    fn kick_others(&self, index: usize) {
        Control::kick_others(self, index)
    }
    fn report(&self, report: VcpuReport) {
        self.send(Event::VcpuStopped(Box::new(report)))
    }
}

/// SIGINT, SIGTERM and SIGHUP as events, and the `--timeout` deadline, from the first moment of
/// a run: loading a large image can be stopped as well as running a guest.
///
/// The three signals are blocked in the main thread before any other thread starts (every
/// thread inherits the mask) and read from a signalfd, so they never interrupt whatever runs
/// and never kill the process by their default action (which would skip restoring the terminal
/// and give a status of 128 + N with no message).
pub struct StopSignals {
    fd: SignalFd,
    deadline: Option<Instant>,
}

impl StopSignals {
    pub fn install(timeout: Option<Duration>) -> std::io::Result<StopSignals> {
        let mut set = SigSet::empty();
        for s in [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP] {
            set.add(s);
        }
        set.thread_block()?;
        let fd = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)?;
        Ok(StopSignals {
            fd,
            deadline: timeout.map(|t| Instant::now() + t),
        })
    }

    /// The signalfd, for poll(2).
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    pub fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// A stop signal that has arrived, if any (without waiting).
    pub fn take_signal(&self) -> Option<i32> {
        match self.fd.read_signal() {
            Ok(Some(info)) => Some(info.ssi_signo as i32),
            _ => None,
        }
    }

    /// Should the run stop now? A signal, or the deadline passed.
    pub fn check(&self) -> Option<StopCause> {
        if let Some(signal) = self.take_signal() {
            return Some(StopCause::Signal(signal));
        }
        match self.deadline {
            Some(deadline) if Instant::now() >= deadline => Some(StopCause::Timeout),
            _ => None,
        }
    }
}
