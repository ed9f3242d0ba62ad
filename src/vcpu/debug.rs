//! The run loop's side of `--gdb`: the [`DebugHook`] a debugger plugs in (gdb/debugger.rs is
//! the one mini-kvm has), ending a step at an I/O exit, noticing a breakpoint reached without
//! a debug exit, and not stepping past `hlt`.
//!
//! The run loop knows nothing of the gdb protocol: it asks the hook, at fixed points, whether
//! to park, what a KVM_EXIT_DEBUG means and whether to keep stepping — the shape of
//! cloud-hypervisor's `Debuggable`, turned around (here the VMM calls the debugger).
//! References: api.rst 4.59 (KVM_SET_GUEST_DEBUG), section 5 ("immediate_exit").

use super::VcpuRunner;
use crate::kvm::bindings::{kvm_regs, kvm_sregs};
use crate::kvm::{KvmError, Vcpu, VmExit};
use crate::memory::GuestMemory;

/// What the run loop does after a KVM_EXIT_DEBUG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterDebugExit {
    /// Keep running (a single-step that reached no breakpoint).
    Run,
    /// Stop the VM and park.
    Park,
    /// Clear RFLAGS.TF (leaked from a step into a saved frame), then keep running.
    ClearTrapFlag,
}

/// How a vCPU's thread ended, as a debugger is told (gdb: `W` exit status, `X` signal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// EXIT, EXIT_STATUS or HLT: the guest's own status.
    Exit(u8),
    /// A guest fault or a host failure, with the reason.
    Fault(String),
    /// Stopped from outside (timeout, signal, Ctrl-A x, gdb's kill).
    Stopped,
}

/// A debugger, as the run loop sees it. Every method is called on the vCPU's own thread.
pub trait DebugHook: Send + Sync {
    /// Should vCPUs park before their next KVM_RUN (gdb stopped the VM)?
    fn wants_pause(&self) -> bool;
    /// Parks vCPU `index`, serving the debugger's requests, until it is resumed (true) or the
    /// VM is stopping (false).
    fn park(
        &self,
        index: usize,
        vcpu: &Vcpu,
        memory: &GuestMemory,
        stopping: &dyn Fn() -> bool,
    ) -> bool;
    /// A KVM_EXIT_DEBUG on vCPU `index` with the next instruction at linear `pc`.
    fn on_debug_exit(&self, index: usize, exception: u32, pc: u64) -> AfterDebugExit;
    /// After another exit, the vCPU's linear RIP: a breakpoint reached without a debug exit?
    fn check_position(&self, index: usize, linear_rip: u64) -> AfterDebugExit;
    /// Is vCPU `index` stepping for the user (`stepi`)?
    fn is_stepping(&self, index: usize) -> bool;
    /// Are breakpoints watched by single-stepping every instruction?
    fn stepping_for_breakpoints(&self) -> bool;
    /// The user's step on `index` ended at an exit KVM reported no step for; `note` says why.
    fn step_ended(&self, index: usize, note: Option<String>);
    /// Sets the vCPU's debug state again before it goes on (`at_hlt`: next is a `hlt`).
    fn keep_stepping(&self, vcpu: &Vcpu, at_hlt: bool) -> Result<(), KvmError>;
    /// Does `hlt` end the vCPU (no irqchip to wake it)? Then a step must not run it.
    fn hlt_ends_vcpu(&self) -> bool;
    /// Is the instruction at the vCPU's RIP a `hlt` (read through its page tables)?
    fn at_hlt(&self, vcpu: &Vcpu, memory: &GuestMemory, regs: &kvm_regs, sregs: &kvm_sregs)
        -> bool;
    /// vCPU `index` has ended, and how.
    fn vcpu_ended(&self, index: usize, how: Ended);
    /// After an exit: has a breakpoint become one this KVM can never hit (its address now on a
    /// user page, where the host cannot step ring 3)? `Park` stops the VM to tell the user.
    fn check_reachable(&self, index: usize, vcpu: &Vcpu) -> AfterDebugExit;
}

impl VcpuRunner {
    /// Is the next instruction `hlt`? (From the registers KVM synced at the exit.)
    pub(super) fn at_hlt(&self) -> bool {
        if !self.debug.as_ref().is_some_and(|d| d.hlt_ends_vcpu()) {
            return false; // only matters where `hlt` ends the vCPU (debugger.rs arm)
        }
        match (self.vcpu.synced_regs(), self.vcpu.synced_sregs()) {
            (Some(r), Some(s)) => self
                .debug
                .as_ref()
                .is_some_and(|d| d.at_hlt(&self.vcpu, &self.memory, &r, &s)),
            _ => false,
        }
    }

    /// gdb is stepping this vCPU and the instruction made an I/O exit: finish it now (KVM_RUN
    /// with immediate_exit, so no further guest instruction runs) and end the step there.
    /// A KVM that reports the step on time says so with KVM_EXIT_DEBUG at the next
    /// instruction; one that would report it only after the *next* instruction (an emulating
    /// KVM completes the `out` before it exits) returns without one, and gdb is told.
    /// Returns true when the step ended (the vCPU parks next).
    pub(super) fn end_step_at_io(&mut self, out: bool, port: u16) -> Result<bool, String> {
        let Some(d) = &self.debug else {
            return Ok(false);
        };
        if !d.is_stepping(self.index) {
            return Ok(false);
        }
        let reported = match self.vcpu.complete_pending() {
            Ok(VmExit::Debug { .. }) => true,
            Ok(_) => false,
            Err(e) => return Err(format!("completing an I/O exit while stepping: {e}")),
        };
        let note = (!reported).then(|| {
            let (what, port) = (if out { "out" } else { "in" }, port);
            format!(
                "mini-kvm: this KVM reported no single step for the `{what}` to port {port:#x} \
                 (it reports one only after the next instruction); mini-kvm ended the step at \
                 its I/O exit instead\n"
            )
        });
        d.step_ended(self.index, note);
        self.control.kick_others(self.index);
        Ok(true)
    }

    /// With breakpoints watched by single-stepping, an I/O exit may have carried the vCPU past
    /// an instruction without a debug exit: look where it is now. And whatever the method, a
    /// breakpoint may have become one this KVM can never hit: the debugger stops the VM to say.
    pub(super) fn check_breakpoint_after_io(&mut self) {
        let Some(d) = &self.debug else { return };
        if d.check_reachable(self.index, &self.vcpu) == AfterDebugExit::Park {
            self.control.kick_others(self.index);
            return;
        }
        if !d.stepping_for_breakpoints() {
            return;
        }
        let (Some(regs), Some(sregs)) = (self.vcpu.synced_regs(), self.vcpu.synced_sregs()) else {
            return;
        };
        if d.check_position(self.index, crate::x86::linear_pc(&regs, &sregs))
            == AfterDebugExit::Park
        {
            self.control.kick_others(self.index);
        } else {
            // A failure here shows at the next KVM_SET_GUEST_DEBUG or KVM_RUN.
            let at_hlt = self.at_hlt();
            if let Some(d) = &self.debug {
                let _ = d.keep_stepping(&self.vcpu, at_hlt);
            }
        }
    }

    /// Clears RFLAGS.TF: a #DB nobody asked for came from a trap flag a gdb step left in a
    /// frame the guest saved (`int n` pushes RFLAGS with it) and restored with `iret`.
    pub(super) fn clear_trap_flag(&mut self) -> Result<(), String> {
        const TF: u64 = 1 << 8;
        let mut regs = self.vcpu.get_regs().map_err(|e| e.to_string())?;
        if regs.rflags & TF != 0 {
            regs.rflags &= !TF;
            self.vcpu.set_regs(&regs).map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}
