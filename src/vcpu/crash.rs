//! What a vCPU records when its guest faults: the registers where it happened (at the I/O
//! instruction, for an I/O exit: exit_address.rs), the bytes of the instruction there, in real
//! mode the interrupt table an exception went through, and the last exits (fault.rs explains
//! them all).

use super::io_address::{at_io_instruction, guest_physical, IoExit};
use super::{VcpuOutcome, VcpuRunner};
use crate::fault::Fault;
use crate::kvm::bindings::{kvm_regs, kvm_sregs};
use crate::kvm::ExitKind;
use crate::x86::{linear_pc, CR0_PE};

/// Bytes read at the faulting instruction (the longest x86 instruction is 15).
const CODE_BYTES: u64 = 16;
/// Real-mode interrupt-table entries kept: the 32 exception vectors.
const IVT_ENTRIES: u64 = 32;

impl VcpuRunner {
    /// A guest fault, with the state the report explains.
    pub(super) fn fault(
        &self,
        mut reason: String,
        io: Option<IoExit>,
        shutdown: bool,
    ) -> VcpuOutcome {
        let mut sregs = self.vcpu.get_sregs().ok();
        let mut regs = self.vcpu.get_regs().ok().map(|regs| match (&sregs, io) {
            (Some(sregs), Some(io)) => {
                at_io_instruction(&self.vcpu, &self.memory, self.io_rip, regs, sregs, io)
            }
            _ => regs,
        });
        if shutdown && crate::fault::is_reset_state(regs.as_ref(), sregs.as_ref()) {
            // AMD SVM reinitialises the vCPU on a shutdown intercept: the state read now is
            // the reset state, not where the guest faulted.
            reason.push_str(
                "; KVM reset the vCPU at the triple fault (as on AMD SVM), so the faulting \
                 address is not known",
            );
            (regs, sregs) = (None, None);
        }
        let recent = self.recent.oldest_first();
        // Exits an unhandled exception leads to: a triple fault, or an emulation failure in
        // the code it jumped to (or of the instruction itself).
        let exception_path = recent
            .last()
            .is_some_and(|r| matches!(r.kind, ExitKind::Shutdown | ExitKind::InternalError));
        // A device's complaint (a bad hypercall) says it all in its line; what the CPU could
        // not handle gets the instruction, and in real mode the table it went through.
        let (code, ivt) = match (&regs, &sregs, exception_path) {
            (Some(regs), Some(sregs), true) => (
                self.code_at(regs, sregs),
                (sregs.cr0 & CR0_PE == 0).then(|| self.ivt(sregs)),
            ),
            _ => (None, None),
        };
        VcpuOutcome::Fault(Box::new(Fault {
            reason,
            regs,
            sregs,
            code,
            ivt: ivt.flatten(),
            recent,
            exits: self.recent.count(),
        }))
    }

    /// The bytes at the vCPU's PC, up to the end of its page (a guest-physical read through
    /// the guest's own tables when paging is on).
    fn code_at(&self, regs: &kvm_regs, sregs: &kvm_sregs) -> Option<Vec<u8>> {
        let physical = guest_physical(&self.vcpu, sregs, linear_pc(regs, sregs))?;
        let n = CODE_BYTES.min(0x1000 - (physical & 0xFFF));
        let mut bytes = vec![0u8; n as usize];
        self.memory.read(physical, &mut bytes).ok()?;
        Some(bytes)
    }

    /// The real-mode interrupt vector table at IDTR.base (a physical address: no paging).
    fn ivt(&self, sregs: &kvm_sregs) -> Option<Vec<u8>> {
        let len = (u64::from(sregs.idt.limit) + 1).min(4 * IVT_ENTRIES);
        let mut bytes = vec![0u8; len as usize];
        self.memory.read(sregs.idt.base, &mut bytes).ok()?;
        Some(bytes)
    }
}
