//! The run loop's side of `--gdb` (see gdb/debugger.rs): ending a step at an I/O exit,
//! noticing a breakpoint reached without a debug exit, and not stepping past `hlt`.
//! References: api.rst 4.59 (KVM_SET_GUEST_DEBUG), section 5 ("immediate_exit").

use super::VcpuRunner;
use crate::gdb::debugger::AfterDebugExit;
use crate::kvm::VmExit;

impl VcpuRunner {
    /// Is the next instruction `hlt`? (From the registers KVM synced at the exit.)
    pub(super) fn at_hlt(&self) -> bool {
        if !self
            .debug
            .as_ref()
            .is_some_and(|d| d.debugger.hlt_ends_vcpu())
        {
            return false; // only matters where `hlt` ends the vCPU (debugger.rs arm)
        }
        match (self.vcpu.synced_regs(), self.vcpu.synced_sregs()) {
            (Some(r), Some(s)) => crate::gdb::access::at_hlt(&self.vcpu, &self.memory, &r, &s),
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
        if !d.debugger.is_stepping(self.index) {
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
        d.debugger.step_ended(self.index, note);
        self.control.kick_others(self.index);
        Ok(true)
    }

    /// With breakpoints watched by single-stepping, an I/O exit may have carried the vCPU past
    /// an instruction without a debug exit: look where it is now.
    pub(super) fn check_breakpoint_after_io(&mut self) {
        let Some(d) = &self.debug else { return };
        if !d.debugger.stepping_for_breakpoints() {
            return;
        }
        let (Some(regs), Some(sregs)) = (self.vcpu.synced_regs(), self.vcpu.synced_sregs()) else {
            return;
        };
        let rip = if sregs.cr0 & crate::x86::CR0_PE == 0 {
            regs.rip & 0xFFFF
        } else {
            regs.rip
        };
        if d.debugger
            .check_position(self.index, sregs.cs.base.wrapping_add(rip))
            == AfterDebugExit::Park
        {
            self.control.kick_others(self.index);
        } else {
            // A failure here shows at the next KVM_SET_GUEST_DEBUG or KVM_RUN.
            let at_hlt = self.at_hlt();
            if let Some(d) = &self.debug {
                let _ = d.debugger.keep_stepping(&self.vcpu, at_hlt);
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
