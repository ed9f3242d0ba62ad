//! The vCPU run loop: enter the guest with KVM_RUN, find out why it left, act, repeat.
//!
//! This loop is the heart of every VMM (api.rst 4.10 KVM_RUN and section 5 on `kvm_run`). One
//! thread runs it per vCPU. [`handle_exit`] is the only place that decides what an exit means;
//! it takes the decoded exit and the devices and returns what to do next, so it can be tested
//! with made-up exits and no /dev/kvm.
//!
//! The hot path — a guest `out` to a port, the most common exit — does this and no more:
//! `KVM_RUN` returns; the exit reason and port are read from the mmap'd `kvm_run` page; the bus
//! `match`es the port; the device updates its state (the hypercall port reads AL/BL from the
//! registers KVM already synced into the same page, KVM_CAP_SYNC_REGS, instead of issuing
//! KVM_GET_REGS); a printed byte is appended to a per-vCPU buffer. No allocation, no ioctl but
//! KVM_RUN, no lock except COM1's uncontended mutex when the port is the UART's, and no lock held
//! across KVM_RUN. Everything else (setup, register dumps, statistics output) happens outside it.

use crate::console::GuestOutput;
use crate::devices::hypercall::HYPERCALL_PORT;
use crate::devices::{ByteSink, DeviceStop, Devices, VcpuIo};
use crate::exit_address::IoRipRule;
use crate::fault::{internal_error_text, ExitRecord, ExitRing};
use crate::kvm::bindings::*;
use crate::kvm::{ExitRegs, RingWatch, Vcpu, VcpuKick, VmExit};
use crate::memory::GuestMemory;
use crate::stats::ExitStats;
use crate::trace::{ExitSummary, Tracer};
use std::sync::Arc;

/// What the loop does before entering the guest.
enum Entry {
    Run,
    /// Not yet (output backlogged): check again.
    Wait,
    Done(VcpuOutcome),
}

/// What the loop does after an exit.
#[derive(Debug, PartialEq, Eq)]
pub enum ExitAction {
    /// Enter the guest again.
    Continue,
    /// KVM_RUN was interrupted (a kick): check for a stop request, flush, go on.
    Kicked,
    /// The vCPU is done.
    Stop(Stop),
}

#[derive(Debug, PartialEq, Eq)]
pub enum Stop {
    Halted,
    /// A reset or a halt for good: the machine is off, the run ends with status 0.
    MachineOff(&'static str),
    Exit(u8),
    GuestFault(String),
    HostError(String),
}

/// Why a run ended with the machine off, in words for `-v`. mini-kvm does not reboot: a reset
/// ends the run with status 0, as QEMU's `-no-reboot` does.
pub const RESET_I8042: &str =
    "the guest reset the machine through the keyboard controller (0xFE to port 0x64)";
pub const RESET_TRIPLE_FAULT: &str =
    "the guest reset the machine by a triple fault (KVM_EXIT_SHUTDOWN; Linux's reboot=t)";
pub const RESET_SYSTEM_EVENT: &str = "the guest reset the machine (KVM_SYSTEM_EVENT_RESET)";
pub const HALTED_FOR_GOOD: &str =
    "the guest halted with interrupts off (cli; hlt: KVM_MP_STATE_HALTED, RFLAGS.IF clear), \
     which nothing here can wake: the machine is off";

/// Decides what one exit means. Pure with respect to KVM: it touches only `devices` and `io`.
pub fn handle_exit<O: ByteSink>(
    exit: VmExit<'_>,
    devices: &Devices,
    io: &mut VcpuIo<O>,
) -> ExitAction {
    let stop = |s| ExitAction::Stop(s);
    match exit {
        VmExit::IoOut {
            port,
            size,
            data,
            regs,
        } => match port_out(devices, port, size, data, &regs, io) {
            Ok(()) => ExitAction::Continue,
            Err(DeviceStop::Exit(0)) => stop(Stop::Halted),
            Err(DeviceStop::Reset) => stop(Stop::MachineOff(RESET_I8042)),
            Err(DeviceStop::Exit(status)) => stop(Stop::Exit(status)),
            Err(DeviceStop::GuestError(why)) => stop(Stop::GuestFault(why)),
            Err(DeviceStop::HostError(why)) => stop(Stop::HostError(why)),
        },
        // [tour:exit-arms]
        VmExit::IoIn { port, size, data } => {
            devices.port_in(port, size, data, io);
            ExitAction::Continue
        }
        VmExit::MmioRead { addr, data } => {
            devices.mmio_read(addr, data, io);
            ExitAction::Continue
        }
        VmExit::MmioWrite { addr, data } => {
            devices.mmio_write(addr, data, io);
            ExitAction::Continue
        }
        VmExit::Hlt => stop(Stop::Halted),
        VmExit::Interrupted => ExitAction::Kicked,
        // [/tour:exit-arms]
        VmExit::Shutdown if io.triple_fault_resets => stop(Stop::MachineOff(RESET_TRIPLE_FAULT)),
        VmExit::Shutdown => stop(Stop::GuestFault(
            "KVM_EXIT_SHUTDOWN: the guest triple-faulted (an exception it could not handle)".into(),
        )),
        VmExit::FailEntry { reason, cpu } => stop(Stop::GuestFault(format!(
            "KVM_EXIT_FAIL_ENTRY: the CPU refused to enter the guest \
             (hardware reason {reason:#x}, host cpu {cpu}): invalid guest state"
        ))),
        VmExit::InternalError { suberror, data } => {
            stop(Stop::GuestFault(internal_error_text(suberror, data)))
        }
        VmExit::SystemEvent { kind, .. } => stop(system_event(kind)),
        VmExit::Debug { exception, pc, .. } => stop(Stop::GuestFault(format!(
            "KVM_EXIT_DEBUG (exception {exception}) at {pc:#x} with no debugger attached"
        ))),
        VmExit::Malformed { reason, why } => stop(Stop::HostError(format!(
            "malformed {} from KVM: {why}",
            exit_reason_name(reason)
        ))),
        VmExit::Other(reason) => stop(Stop::GuestFault(format!(
            "unexpected exit {} ({reason})",
            exit_reason_name(reason)
        ))),
    }
}

/// KVM_EXIT_SYSTEM_EVENT: KVM says the guest shut the machine down or reset it, or that it
/// crashed (api.rst section 5, "KVM_EXIT_SYSTEM_EVENT").
fn system_event(kind: u32) -> Stop {
    match kind {
        KVM_SYSTEM_EVENT_SHUTDOWN => Stop::Halted,
        KVM_SYSTEM_EVENT_RESET => Stop::MachineOff(RESET_SYSTEM_EVENT),
        KVM_SYSTEM_EVENT_CRASH => {
            Stop::GuestFault("KVM_EXIT_SYSTEM_EVENT: the guest reported a crash".into())
        }
        other => Stop::GuestFault(format!("KVM_EXIT_SYSTEM_EVENT of unknown type {other}")),
    }
}

/// An `out`: to the hypercall port, a call whose number and argument are in AL and BL (from
/// the registers KVM synced into kvm_run, or KVM_GET_REGS); to any other port, bytes for the
/// bus. A `rep outs` to the hypercall port makes the same call once per access.
fn port_out<O: ByteSink>(
    devices: &Devices,
    port: u16,
    size: u8,
    data: &[u8],
    regs: &ExitRegs<'_>,
    io: &mut VcpuIo<O>,
) -> Result<(), DeviceStop> {
    if port != HYPERCALL_PORT {
        return devices.port_out(port, size, data, io);
    }
    let regs = regs
        .get()
        .map_err(|e| DeviceStop::HostError(format!("reading registers for a hypercall: {e}")))?;
    for _ in data.chunks(usize::from(size.max(1))) {
        devices.hypercall(regs.rax as u8, regs.rbx as u8, io)?;
    }
    Ok(())
}

/// One vCPU with everything its thread needs.
pub struct VcpuRunner {
    pub index: usize,
    pub name: String,
    pub vcpu: Vcpu,
    pub devices: Arc<Devices>,
    pub io: VcpuIo<GuestOutput>,
    pub control: Arc<dyn RunControl>,
    pub stats: ExitStats,
    /// `--trace`: explains each exit on stderr.
    pub trace: Option<Tracer>,
    /// `--gdb`: the debugger this vCPU parks for (gdb/debugger.rs; any [`DebugHook`]).
    pub debug: Option<Arc<dyn DebugHook>>,
    /// Guest RAM, to read the instruction bytes around RIP (exit_address.rs).
    pub memory: Arc<GuestMemory>,
    /// Where this host leaves RIP at an I/O exit, when measured (with --trace and --gdb);
    /// otherwise worked out from the instruction bytes when an address is printed.
    pub io_rip: Option<IoRipRule>,
    /// Test-only (confine.rs): make one forbidden system call before the first KVM_RUN.
    pub forbidden_syscall: bool,
    /// With COM1's THR coalesced (com1.rs): whether writes wait in KVM's ring.
    pub coalesced: Option<RingWatch>,
    /// With an in-kernel irqchip KVM runs HLT itself: at each kick, look whether the vCPU is
    /// halted with interrupts off, i.e. off for good (a kernel's `cli; hlt`, Linux's halt).
    pub watch_halt: bool,
    /// The last exits, for the crash report (fault/ring.rs): filled on every exit.
    pub recent: ExitRing,
}

impl VcpuRunner {
    /// Runs until the vCPU stops, then tells the main thread.
    pub fn run(mut self) {
        self.control
            .register(self.index, VcpuKick::for_current_thread(&self.vcpu));
        if self.forbidden_syscall {
            crate::confine::make_forbidden_syscall();
        }
        let mut outcome = self.run_loop();
        // Whatever way the loop ended, the guest's last coalesced writes are output too.
        if let Err(why) = self.drain_ring() {
            if matches!(outcome, VcpuOutcome::Halted | VcpuOutcome::Exited(_)) {
                outcome = VcpuOutcome::HostError(why);
            }
        }
        if self.coalesced.is_some() {
            self.devices.com1().stop_coalescing();
        }
        if let Err(e) = self.io.output.finish() {
            if matches!(outcome, VcpuOutcome::Halted | VcpuOutcome::Exited(_)) {
                outcome = VcpuOutcome::HostError(format!("writing guest output failed: {e}"));
            }
        }
        self.control.unregister(self.index);
        if let Some(d) = &self.debug {
            d.vcpu_ended(
                self.index,
                match &outcome {
                    // A reset or power-off ends the run with status 0 (machine/wait.rs).
                    VcpuOutcome::Halted | VcpuOutcome::MachineOff(_) => Ended::Exit(0),
                    VcpuOutcome::Exited(n) => Ended::Exit(*n),
                    VcpuOutcome::Fault(f) => Ended::Fault(f.reason.clone()),
                    VcpuOutcome::HostError(why) => Ended::Fault(why.clone()),
                    VcpuOutcome::Stopped => Ended::Stopped,
                },
            );
        }
        let report = VcpuReport {
            index: self.index,
            name: self.name,
            outcome,
            stats: self.stats,
            unclaimed_ports: std::mem::take(&mut self.io.unclaimed_ports),
            unclaimed_mmio: self.io.unclaimed_mmio,
        };
        self.control.report(report);
    }

    /// Enter the guest, handle the exit, repeat, until the vCPU is done.
    fn run_loop(&mut self) -> VcpuOutcome {
        loop {
            match self.before_entry() {
                Entry::Run => {}
                Entry::Wait => continue,
                Entry::Done(outcome) => return outcome,
            }
            self.stats.entering();
            let exit = match self.vcpu.run() {
                Ok(exit) => exit,
                Err(e) => return VcpuOutcome::HostError(e.to_string()),
            };
            // Writes KVM kept in the coalesced ring happened before this exit: apply them
            // first, so the UART, the output and the trace see the guest's order.
            if self.coalesced.as_ref().is_some_and(|w| !w.is_empty()) {
                let drained = drain_ring(
                    &self.devices,
                    &mut self.io,
                    &mut self.stats,
                    &mut self.trace,
                );
                if let Err(why) = drained {
                    return VcpuOutcome::HostError(why);
                }
            }
            self.stats.exited(&exit);
            // RIP is added once handle_exit is done with the exit (it borrows the run page).
            self.recent.push(ExitRecord::of(&exit, None));
            if let (VmExit::Debug { exception, pc }, true) = (&exit, self.debug.is_some()) {
                let (exception, pc) = (*exception, *pc);
                if let Err(why) = self.after_debug_exit(exception, pc) {
                    return VcpuOutcome::HostError(why);
                }
                continue;
            }
            let io = match &exit {
                VmExit::IoOut { port, size, .. } => Some((true, *port, *size)),
                VmExit::IoIn { port, size, .. } => Some((false, *port, *size)),
                _ => None,
            };
            let shutdown = matches!(exit, VmExit::Shutdown);
            let summary = self.trace.as_ref().map(|_| ExitSummary::of(&exit));
            if summary.is_some() {
                self.io.events = Some(Vec::new());
            }
            let action = handle_exit(exit, &self.devices, &mut self.io);
            self.recent.set_last_rip(self.vcpu.synced_rip());
            if let Some(summary) = summary {
                self.trace_exit(&summary, &action, io);
            }
            if let Some(outcome) = self.after_exit(action, io, shutdown) {
                return outcome;
            }
        }
    }

    /// Before each KVM_RUN: a stop request ends the loop; a debugger's pause parks the vCPU;
    /// a stdout that is not keeping up makes the guest wait (flow control, nothing dropped),
    /// though a stop or a pause still gets through at once.
    fn before_entry(&mut self) -> Entry {
        if self.control.stop_requested() {
            return Entry::Done(VcpuOutcome::Stopped);
        }
        if let Some(d) = self.debug.as_ref().filter(|d| d.wants_pause()) {
            let control = &self.control;
            let stopping = || control.stop_requested();
            if !d.park(self.index, &self.vcpu, &self.memory, &stopping) {
                return Entry::Done(VcpuOutcome::Stopped);
            }
            // Resumed (to step or continue): run now, even if the pause flag is still up for
            // the other vCPUs (park forgot the kicks from before the stop).
        }
        if self.io.output.backlogged() {
            let control = &self.control;
            let debug = &self.debug;
            let give_up =
                || control.stop_requested() || debug.as_ref().is_some_and(|d| d.wants_pause());
            if let Err(e) = self.io.output.wait_for_room(&give_up) {
                return Entry::Done(VcpuOutcome::HostError(format!(
                    "writing guest output failed: {e}"
                )));
            }
            if self.io.output.backlogged() {
                return Entry::Wait;
            }
        }
        Entry::Run
    }

    /// A KVM_EXIT_DEBUG with a debugger attached: park at a breakpoint or the end of a step,
    /// or go on stepping (vcpu/debug.rs).
    fn after_debug_exit(&mut self, exception: u32, pc: u64) -> Result<(), String> {
        let Some(d) = &self.debug else {
            return Ok(());
        };
        match d.on_debug_exit(self.index, exception, pc) {
            AfterDebugExit::Park => {
                self.control.kick_others(self.index);
                return Ok(());
            }
            AfterDebugExit::ClearTrapFlag => self.clear_trap_flag()?,
            AfterDebugExit::Run => {}
        }
        let at_hlt = self.at_hlt();
        if let Some(d) = &self.debug {
            d.keep_stepping(&self.vcpu, at_hlt)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }

    /// What handle_exit decided, done: go on (None), or the vCPU's outcome.
    fn after_exit(
        &mut self,
        action: ExitAction,
        io: Option<IoExit>,
        shutdown: bool,
    ) -> Option<VcpuOutcome> {
        match action {
            ExitAction::Continue => {
                let (out, port, _) = io?;
                match self.end_step_at_io(out, port) {
                    Ok(true) => {}
                    Ok(false) => self.check_breakpoint_after_io(),
                    Err(why) => return Some(VcpuOutcome::HostError(why)),
                }
                None
            }
            ExitAction::Kicked => {
                // Clear the flag before the loop re-checks for a stop request: a stop that
                // comes in between sets it again, so it cannot be lost (kvm/kick.rs).
                self.vcpu.clear_immediate_exit();
                if let Err(e) = self.io.output.flush() {
                    return Some(VcpuOutcome::HostError(format!(
                        "writing guest output failed: {e}"
                    )));
                }
                (self.watch_halt && self.halted_for_good())
                    .then_some(VcpuOutcome::MachineOff(HALTED_FOR_GOOD))
            }
            ExitAction::Stop(Stop::MachineOff(why)) => Some(VcpuOutcome::MachineOff(why)),
            ExitAction::Stop(Stop::Halted) => Some(VcpuOutcome::Halted),
            ExitAction::Stop(Stop::Exit(status)) => Some(VcpuOutcome::Exited(status)),
            ExitAction::Stop(Stop::HostError(why)) => Some(VcpuOutcome::HostError(why)),
            ExitAction::Stop(Stop::GuestFault(reason)) => Some(self.fault(reason, io, shutdown)),
        }
    }
}

/// Applies the coalesced ring's writes (devices/com1.rs), counts them and traces the batch.
fn drain_ring(
    devices: &Devices,
    io: &mut VcpuIo<GuestOutput>,
    stats: &mut ExitStats,
    trace: &mut Option<Tracer>,
) -> Result<(), String> {
    let batch = devices.drain_coalesced(io).map_err(|e| match e {
        DeviceStop::HostError(why) | DeviceStop::GuestError(why) => why,
        // Draining applies THR writes only: they neither exit nor reset the machine.
        DeviceStop::Exit(_) | DeviceStop::Reset => String::new(),
    })?;
    if batch.writes > 0 {
        stats.coalesced(batch.writes);
        if let Some(tracer) = trace {
            tracer.coalesced(batch.writes, batch.sent());
        }
    }
    Ok(())
}

impl VcpuRunner {
    /// `--trace`: one line for the exit just handled — what the devices did, what happens
    /// next, and where the guest was (the I/O instruction itself: exit_address.rs).
    fn trace_exit(&mut self, summary: &ExitSummary, action: &ExitAction, io: Option<IoExit>) {
        let events = self.io.events.take().unwrap_or_default();
        let outcome = match action {
            ExitAction::Continue => None,
            ExitAction::Kicked => Some("kicked out of KVM_RUN"),
            ExitAction::Stop(Stop::GuestFault(why)) => Some(why.as_str()),
            ExitAction::Stop(Stop::HostError(why)) => Some(why.as_str()),
            ExitAction::Stop(Stop::MachineOff(why)) => Some(*why),
            ExitAction::Stop(_) => Some("vCPU stops"),
        };
        let sregs = self.vcpu.synced_sregs();
        let regs = self.vcpu.synced_regs().map(|regs| match (&sregs, io) {
            (Some(sregs), Some(io)) => {
                at_io_instruction(&self.vcpu, &self.memory, self.io_rip, regs, sregs, io)
            }
            _ => regs,
        });
        if let Some(tracer) = &mut self.trace {
            tracer.exit(summary, &events, outcome, regs.as_ref(), sregs.as_ref());
        }
    }

    fn drain_ring(&mut self) -> Result<(), String> {
        if self.coalesced.is_none() {
            return Ok(());
        }
        drain_ring(
            &self.devices,
            &mut self.io,
            &mut self.stats,
            &mut self.trace,
        )
    }
}

impl VcpuRunner {
    /// Halted in KVM with interrupts off: no interrupt can end that HLT (there is no NMI
    /// source here), so the guest is done. Two ioctls, once per kick.
    fn halted_for_good(&self) -> bool {
        let halted = self
            .vcpu
            .get_mp_state()
            .is_ok_and(|s| s == KVM_MP_STATE_HALTED);
        halted
            && self
                .vcpu
                .get_regs()
                .is_ok_and(|r| r.rflags & crate::x86::RFLAGS_IF == 0)
    }
}

mod crash;
mod debug;
mod io_address;
mod outcome;
pub use debug::{AfterDebugExit, DebugHook, Ended};
use io_address::{at_io_instruction, IoExit};
pub use outcome::{RunControl, VcpuOutcome, VcpuReport};

#[cfg(test)]
mod tests;
