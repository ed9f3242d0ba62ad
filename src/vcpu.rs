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

use crate::control::{Control, Event};
use crate::devices::{DeviceStop, Devices, VcpuIo};
use crate::fault::{internal_error_text, Fault};
use crate::kvm::bindings::*;
use crate::kvm::{Vcpu, VcpuKick, VmExit};
use crate::stats::ExitStats;
use crate::trace::{ExitSummary, Tracer};
use std::sync::Arc;

/// How one vCPU's run ended.
#[derive(Debug, Clone)]
pub enum VcpuOutcome {
    /// HLT with no interrupt controller to wake it, EXIT, or EXIT_STATUS 0.
    Halted,
    /// EXIT_STATUS with a non-zero status.
    Exited(u8),
    /// The guest broke (status 5).
    Fault(Box<Fault>),
    /// The host failed (status 1).
    HostError(String),
    /// Stopped from outside: timeout, signal, Ctrl-A x, another vCPU's fault.
    Stopped,
}

/// What a vCPU thread sends back when it ends.
#[derive(Debug)]
pub struct VcpuReport {
    pub index: usize,
    pub name: String,
    pub outcome: VcpuOutcome,
    pub stats: ExitStats,
    pub unclaimed_ports: Vec<(u16, u64, u64)>,
    pub unclaimed_mmio: (u64, u64),
}

impl VcpuReport {
    /// The report of a vCPU thread that could not finish normally.
    pub fn host_error(index: usize, name: String, why: String) -> VcpuReport {
        VcpuReport {
            index,
            name,
            outcome: VcpuOutcome::HostError(why),
            stats: ExitStats::default(),
            unclaimed_ports: Vec::new(),
            unclaimed_mmio: (0, 0),
        }
    }
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
    Exit(u8),
    GuestFault(String),
    HostError(String),
}

/// Decides what one exit means. Pure with respect to KVM: it touches only `devices` and `io`.
pub fn handle_exit(exit: VmExit<'_>, devices: &Devices, io: &mut VcpuIo) -> ExitAction {
    let stop = |s| ExitAction::Stop(s);
    match exit {
        VmExit::IoOut {
            port,
            size,
            data,
            regs,
        } => match devices.port_out(port, size, data, &regs, io) {
            Ok(()) => ExitAction::Continue,
            Err(DeviceStop::Exit(0)) => stop(Stop::Halted),
            Err(DeviceStop::Exit(status)) => stop(Stop::Exit(status)),
            Err(DeviceStop::GuestError(why)) => stop(Stop::GuestFault(why)),
            Err(DeviceStop::HostError(why)) => stop(Stop::HostError(why)),
        },
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
        VmExit::SystemEvent { kind, .. } => match kind {
            KVM_SYSTEM_EVENT_SHUTDOWN => stop(Stop::Halted),
            KVM_SYSTEM_EVENT_RESET => stop(Stop::GuestFault(
                "KVM_EXIT_SYSTEM_EVENT: the guest asked for a reset, which mini-kvm does not do"
                    .into(),
            )),
            KVM_SYSTEM_EVENT_CRASH => stop(Stop::GuestFault(
                "KVM_EXIT_SYSTEM_EVENT: the guest reported a crash".into(),
            )),
            other => stop(Stop::GuestFault(format!(
                "KVM_EXIT_SYSTEM_EVENT of unknown type {other}"
            ))),
        },
        VmExit::Debug { exception, pc, .. } => stop(Stop::GuestFault(format!(
            "KVM_EXIT_DEBUG (exception {exception}) at {pc:#x} with no debugger attached"
        ))),
        VmExit::Other(reason) => stop(Stop::GuestFault(format!(
            "unexpected exit {} ({reason})",
            exit_reason_name(reason)
        ))),
    }
}

/// One vCPU with everything its thread needs.
pub struct VcpuRunner {
    pub index: usize,
    pub name: String,
    pub vcpu: Vcpu,
    pub devices: Arc<Devices>,
    pub io: VcpuIo,
    pub control: Arc<Control<VcpuReport>>,
    pub stats: ExitStats,
    /// `--trace`: explains each exit on stderr.
    pub trace: Option<Tracer>,
}

impl VcpuRunner {
    /// Runs until the vCPU stops, then tells the main thread.
    pub fn run(mut self) {
        self.control
            .register(self.index, VcpuKick::for_current_thread(&self.vcpu));
        let mut outcome = self.run_loop();
        if let Err(e) = self.io.output.finish() {
            if matches!(outcome, VcpuOutcome::Halted | VcpuOutcome::Exited(_)) {
                outcome = VcpuOutcome::HostError(format!("writing guest output failed: {e}"));
            }
        }
        self.control.unregister(self.index);
        let report = VcpuReport {
            index: self.index,
            name: self.name,
            outcome,
            stats: self.stats,
            unclaimed_ports: self
                .io
                .unclaimed_ports
                .iter()
                .map(|(&port, &(r, w))| (port, r, w))
                .collect(),
            unclaimed_mmio: self.io.unclaimed_mmio,
        };
        self.control.send(Event::VcpuStopped(report));
    }

    fn run_loop(&mut self) -> VcpuOutcome {
        loop {
            if self.control.stop_requested() {
                return VcpuOutcome::Stopped;
            }
            self.stats.entering();
            let exit = match self.vcpu.run() {
                Ok(exit) => exit,
                Err(e) => return VcpuOutcome::HostError(e.to_string()),
            };
            self.stats.exited(&exit);
            let summary = self.trace.as_ref().map(|_| ExitSummary::of(&exit));
            if summary.is_some() {
                self.io.trace_note = Some(String::new());
            }
            let action = handle_exit(exit, &self.devices, &mut self.io);
            if let (Some(tracer), Some(summary)) = (&mut self.trace, summary) {
                let mut note = self.io.trace_note.take().unwrap_or_default();
                let outcome = match &action {
                    ExitAction::Continue => None,
                    ExitAction::Kicked => Some("kicked out of KVM_RUN"),
                    ExitAction::Stop(Stop::GuestFault(why)) => Some(why.as_str()),
                    ExitAction::Stop(Stop::HostError(why)) => Some(why.as_str()),
                    ExitAction::Stop(_) => Some("vCPU stops"),
                };
                if let Some(outcome) = outcome {
                    if !note.is_empty() {
                        note.push_str(": ");
                    }
                    note.push_str(outcome);
                }
                let regs = self.vcpu.synced_regs();
                let sregs = self.vcpu.synced_sregs();
                tracer.exit(&summary, &note, regs.as_ref(), sregs.as_ref());
            }
            match action {
                ExitAction::Continue => {}
                ExitAction::Kicked => {
                    // Clear the flag before the loop re-checks for a stop request: a stop that
                    // comes in between sets it again, so it cannot be lost (kvm/kick.rs).
                    self.vcpu.clear_immediate_exit();
                    if let Err(e) = self.io.output.flush() {
                        return VcpuOutcome::HostError(format!("writing guest output failed: {e}"));
                    }
                }
                ExitAction::Stop(Stop::Halted) => return VcpuOutcome::Halted,
                ExitAction::Stop(Stop::Exit(status)) => return VcpuOutcome::Exited(status),
                ExitAction::Stop(Stop::HostError(why)) => return VcpuOutcome::HostError(why),
                ExitAction::Stop(Stop::GuestFault(reason)) => {
                    return VcpuOutcome::Fault(Box::new(Fault {
                        reason,
                        regs: self.vcpu.get_regs().ok(),
                        sregs: self.vcpu.get_sregs().ok(),
                    }))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::console::{GuestOutput, HostInput, OutputSink};
    use crate::devices::com1::Com1;
    use crate::kvm::ExitRegs;
    use std::io::Write;
    use std::sync::Mutex;

    #[derive(Clone, Default)]
    struct Capture(Arc<Mutex<Vec<u8>>>);
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn machine(input: &[u8]) -> (Devices, VcpuIo, Capture) {
        let cap = Capture::default();
        let sink = Arc::new(OutputSink::new(Box::new(cap.clone()), false, false));
        let host_input = HostInput::new();
        host_input.push(input);
        host_input.end();
        let devices = Devices::new(Com1::new(Arc::clone(&host_input)));
        let io = VcpuIo::new(GuestOutput::new(sink, 0), host_input);
        (devices, io, cap)
    }

    fn regs(al: u8, bl: u8) -> kvm_regs {
        kvm_regs {
            rax: 0x1234_5600 | u64::from(al),
            rbx: 0xABCD_EF00 | u64::from(bl),
            ..Default::default()
        }
    }

    fn out(port: u16, data: &[u8], r: &kvm_regs, d: &Devices, io: &mut VcpuIo) -> ExitAction {
        let exit = VmExit::IoOut {
            port,
            size: 1,
            data,
            regs: ExitRegs::Synced(r),
        };
        handle_exit(exit, d, io)
    }

    #[test]
    fn putchar_then_exit_status() {
        let (d, mut io, cap) = machine(b"");
        for &c in b"Hi" {
            assert_eq!(
                out(0x500, &[1], &regs(1, c), &d, &mut io),
                ExitAction::Continue
            );
        }
        assert_eq!(
            out(0x500, &[3], &regs(3, 7), &d, &mut io),
            ExitAction::Stop(Stop::Exit(7))
        );
        assert_eq!(
            out(0x500, &[0], &regs(0, 0), &d, &mut io),
            ExitAction::Stop(Stop::Halted)
        );
        io.output.finish().unwrap();
        assert_eq!(&*cap.0.lock().unwrap(), b"Hi");
    }

    #[test]
    fn unknown_hypercall_is_a_guest_fault_naming_the_number() {
        let (d, mut io, _) = machine(b"");
        match out(0x500, &[0x7F], &regs(0x7F, 0), &d, &mut io) {
            ExitAction::Stop(Stop::GuestFault(why)) => assert!(why.contains("0x7f"), "{why}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn getchar_returns_bytes_then_eot() {
        let (d, mut io, _) = machine(b"q");
        let mut got = Vec::new();
        for _ in 0..2 {
            out(0x500, &[2], &regs(2, 0), &d, &mut io);
            let mut data = [0u8; 1];
            let exit = VmExit::IoIn {
                port: 0x500,
                size: 1,
                data: &mut data,
            };
            assert_eq!(handle_exit(exit, &d, &mut io), ExitAction::Continue);
            got.push(data[0]);
        }
        assert_eq!(got, vec![b'q', 0x04]);
    }

    #[test]
    fn uart_thr_and_string_io_reach_the_output() {
        let (d, mut io, cap) = machine(b"");
        // `rep outsb` of three bytes to THR arrives as one exit with count 3.
        let r = regs(0, 0);
        assert_eq!(out(0x3F8, b"abc", &r, &d, &mut io), ExitAction::Continue);
        // A 16-bit `out dx, ax` to THR: AL to 0x3F8, AH to 0x3F9 (IER), as on an ISA bus.
        let exit = VmExit::IoOut {
            port: 0x3F8,
            size: 2,
            data: &[b'd', 0],
            regs: ExitRegs::Synced(&r),
        };
        assert_eq!(handle_exit(exit, &d, &mut io), ExitAction::Continue);
        io.output.finish().unwrap();
        assert_eq!(&*cap.0.lock().unwrap(), b"abcd");
    }

    #[test]
    fn unclaimed_ports_and_mmio_read_all_ones_and_are_counted() {
        let (d, mut io, _) = machine(b"");
        let mut data = [0u8; 4];
        let exit = VmExit::IoIn {
            port: 0x1234,
            size: 2,
            data: &mut data[..2],
        };
        handle_exit(exit, &d, &mut io);
        assert_eq!(&data[..2], &[0xFF, 0xFF]);
        assert_eq!(io.unclaimed_ports.get(&0x1234), Some(&(1, 0)));
        let mut mmio = [0u8; 4];
        let exit = VmExit::MmioRead {
            addr: 0xFFFF0,
            data: &mut mmio,
        };
        handle_exit(exit, &d, &mut io);
        assert_eq!(mmio, [0xFF; 4]);
        handle_exit(
            VmExit::MmioWrite {
                addr: 1,
                data: &[1],
            },
            &d,
            &mut io,
        );
        assert_eq!(io.unclaimed_mmio, (1, 1));
    }

    #[test]
    fn port_0x92_keeps_a20_on() {
        let (d, mut io, _) = machine(b"");
        out(0x92, &[0x00], &regs(0, 0), &d, &mut io);
        let mut data = [0u8; 1];
        handle_exit(
            VmExit::IoIn {
                port: 0x92,
                size: 1,
                data: &mut data,
            },
            &d,
            &mut io,
        );
        assert_eq!(data[0] & 0x02, 0x02);
    }

    #[test]
    fn faults_and_kicks() {
        let (d, mut io, _) = machine(b"");
        assert_eq!(
            handle_exit(VmExit::Hlt, &d, &mut io),
            ExitAction::Stop(Stop::Halted)
        );
        assert_eq!(
            handle_exit(VmExit::Interrupted, &d, &mut io),
            ExitAction::Kicked
        );
        for exit in [
            VmExit::Shutdown,
            VmExit::FailEntry {
                reason: 0x21,
                cpu: 1,
            },
            VmExit::InternalError {
                suberror: 1,
                data: &[],
            },
            VmExit::Other(99),
        ] {
            let name = format!("{exit:?}");
            match handle_exit(exit, &d, &mut io) {
                ExitAction::Stop(Stop::GuestFault(why)) => {
                    assert!(why.contains("KVM_EXIT"), "{why}")
                }
                other => panic!("{name}: {other:?}"),
            }
        }
    }
}
