//! The run loop's side of `--gdb`: one [`VcpuHook`] per vCPU, which parks its vCPU while gdb
//! holds the VM, takes every KVM_EXIT_DEBUG, ends a step at an I/O exit, notices a breakpoint
//! reached without a debug exit, and never steps past a `hlt` that ends the vCPU.
//!
//! The run loop (vcpu.rs) knows nothing of gdb: it calls its hooks at fixed points, before
//! KVM_RUN, at an exit, after the exit was handled and at the end, and this hook asks the
//! [`Debugger`] what to do there — the shape of cloud-hypervisor's `Debuggable`, turned around
//! (here the VMM calls the debugger). References: api.rst 4.59 (KVM_SET_GUEST_DEBUG), section 5
//! (`immediate_exit`, KVM_EXIT_DEBUG).

use super::access::at_hlt;
use super::debugger::{AfterDebugExit, Debugger, Ended};
use crate::devices::ByteSink;
use crate::error::{Ending, Stop};
use crate::kvm::Exit;
use crate::vcpu::{Runner, VcpuHook};
use crate::x86::{linear_pc, RFLAGS_TF};
use std::sync::Arc;

/// vCPU `index`'s view of the debugger.
pub struct DebugHook {
    pub index: usize,
    pub debugger: Arc<Debugger>,
}

impl VcpuHook for DebugHook {
    /// gdb holds the VM: the vCPU's output so far goes out, then it parks, serving gdb's
    /// requests, until gdb resumes it (or the run is stopping).
    fn before_run(&mut self, cpu: &mut Runner) -> Option<Ending> {
        if !self.debugger.wants_pause() {
            return None;
        }
        if let Err(ending) = cpu.io.out.flush() {
            return Some(ending);
        }
        let control = &cpu.control;
        let stopping = || control.stop_requested();
        if self.debugger.park(self.index, &cpu.vcpu, &cpu.memory, &stopping) {
            // Resumed (to step or continue): run now, even if the pause flag is still up for
            // the other vCPUs (park forgot the kicks from before the stop).
            return None;
        }
        Some(Ending::Stopped(control.cause().unwrap_or(Stop::Quit)))
    }

    /// A KVM_EXIT_DEBUG is the debugger's: park at a breakpoint or at the end of a step, or
    /// go on stepping.
    fn on_exit(&mut self, cpu: &mut Runner, exit: &Exit) -> Result<bool, Ending> {
        let Exit::Debug { exception, pc } = *exit else { return Ok(false) };
        self.after_debug_exit(cpu, exception, pc).map_err(Ending::Host)?;
        Ok(true)
    }

    /// After a port-I/O exit the core handled, with the vCPU about to go on.
    fn after_exit(&mut self, cpu: &mut Runner, exit: &Exit, next: &mut Option<Ending>) {
        let Exit::Io { out, port, .. } = *exit else { return };
        if next.is_some() {
            return; // the vCPU ends (EXIT, a fault): nothing to step or check
        }
        match self.end_step_at_io(cpu, out, port) {
            Ok(true) => {}
            Ok(false) => self.check_breakpoint_after_io(cpu),
            Err(why) => *next = Some(Ending::Host(why)),
        }
    }

    /// gdb hears how the vCPU ended (`W`, `X`).
    fn end(&mut self, cpu: &mut Runner, ending: &mut Ending, _lines: &mut Vec<String>) {
        let how = match ending {
            // A reset or power-off ends the run with status 0.
            Ending::Halted | Ending::Off(_) => Ended::Exit(0),
            Ending::Exit(n) => Ended::Exit(*n),
            // Stopped with no cause from outside: another vCPU ended the run (its ending is
            // the one gdb hears about).
            Ending::Stopped(_) if cpu.control.cause().is_none() => Ended::Exit(0),
            Ending::Stopped(_) => Ended::Stopped,
            Ending::Host(why) => Ended::Fault(why.clone()),
            other => Ended::Fault(other.to_string()),
        };
        self.debugger.vcpu_ended(self.index, how);
    }
}

impl DebugHook {
    /// All-stop: this vCPU stopped the VM, so every other vCPU is kicked out of KVM_RUN and
    /// parks too.
    fn kick_others(&self, cpu: &Runner) {
        (0..self.debugger.vcpus()).filter(|&i| i != self.index).for_each(|i| cpu.control.kick(i));
    }

    /// Is the next instruction a `hlt` that ends the vCPU? (From the registers at the exit.)
    fn at_hlt(&self, cpu: &Runner) -> bool {
        if !self.debugger.hlt_ends_vcpu() {
            return false; // only matters where `hlt` ends the vCPU (Debugger::arm)
        }
        match (cpu.vcpu.regs_at_exit(), cpu.vcpu.sregs_at_exit()) {
            (Ok(r), Ok(s)) => at_hlt(&cpu.vcpu, &cpu.memory, &r, &s),
            _ => false,
        }
    }

    /// A KVM_EXIT_DEBUG: park at a breakpoint or the end of a step, or go on stepping.
    fn after_debug_exit(&self, cpu: &mut Runner, exception: u32, pc: u64) -> Result<(), String> {
        match self.debugger.on_debug_exit(self.index, exception, pc) {
            AfterDebugExit::Park => {
                self.kick_others(cpu);
                return Ok(());
            }
            AfterDebugExit::ClearTrapFlag => clear_trap_flag(cpu)?,
            AfterDebugExit::Run => {}
        }
        let at_hlt = self.at_hlt(cpu);
        self.debugger.keep_stepping(&cpu.vcpu, at_hlt).map_err(|e| e.to_string())
    }

    /// gdb is stepping this vCPU and the instruction made an I/O exit: finish it now (KVM_RUN
    /// with `immediate_exit`, so no further guest instruction runs) and end the step there.
    /// A KVM that reports the step on time says so with KVM_EXIT_DEBUG at the next
    /// instruction; one that would report it only after the *next* instruction (an emulating
    /// KVM completes the `out` before it exits) returns without one, and gdb is told.
    /// Returns true when the step ended (the vCPU parks next).
    fn end_step_at_io(&self, cpu: &mut Runner, out: bool, port: u16) -> Result<bool, String> {
        if !self.debugger.is_stepping(self.index) {
            return Ok(false);
        }
        cpu.vcpu.set_immediate_exit(true);
        let completed = cpu.vcpu.run();
        cpu.vcpu.set_immediate_exit(false);
        let reported = match completed {
            Ok(Exit::Debug { .. }) => true,
            Ok(_) => false,
            Err(e) => return Err(format!("completing an I/O exit while stepping: {e}")),
        };
        let note = (!reported).then(|| {
            let what = if out { "out" } else { "in" };
            format!(
                "mini-kvm: this KVM reported no single step for the `{what}` to port {port:#x} \
                 (it reports one only after the next instruction); mini-kvm ended the step at \
                 its I/O exit instead\n"
            )
        });
        self.debugger.step_ended(self.index, note);
        self.kick_others(cpu);
        Ok(true)
    }

    /// With breakpoints watched by single-stepping, an I/O exit may have carried the vCPU past
    /// an instruction without a debug exit: look where it is now. And whatever the method, a
    /// breakpoint may have become one this KVM can never hit: the debugger stops the VM to say.
    fn check_breakpoint_after_io(&self, cpu: &mut Runner) {
        let d = &self.debugger;
        if d.check_reachable_at_exit(self.index, &cpu.vcpu) == AfterDebugExit::Park {
            return self.kick_others(cpu);
        }
        if !d.stepping_for_breakpoints() {
            return;
        }
        let (Ok(regs), Ok(sregs)) = (cpu.vcpu.regs_at_exit(), cpu.vcpu.sregs_at_exit()) else {
            return;
        };
        if d.check_position(self.index, linear_pc(&regs, &sregs)) == AfterDebugExit::Park {
            self.kick_others(cpu);
        } else {
            // A failure here shows at the next KVM_SET_GUEST_DEBUG or KVM_RUN.
            let _ = d.keep_stepping(&cpu.vcpu, self.at_hlt(cpu));
        }
    }
}

/// Clears RFLAGS.TF: a #DB nobody asked for came from a trap flag a gdb step left in a frame
/// the guest saved (`int n` pushes RFLAGS with it) and restored with `iret`.
fn clear_trap_flag(cpu: &Runner) -> Result<(), String> {
    let mut regs = cpu.vcpu.get_regs().map_err(|e| e.to_string())?;
    if regs.rflags & RFLAGS_TF != 0 {
        regs.rflags &= !RFLAGS_TF;
        cpu.vcpu.set_regs(&regs).map_err(|e| e.to_string())?;
    }
    Ok(())
}
