//! What the debugger asks of a vCPU, as a trait ([`DebugVcpu`]), and the requests a parked
//! vCPU serves on its own thread: registers, guest-virtual memory, translations.
//!
//! The trait names the few vCPU ioctls the debugger uses (api.rst 4.11-4.15 KVM_GET/SET_REGS,
//! KVM_GET/SET_SREGS, KVM_TRANSLATE; 4.59 KVM_SET_GUEST_DEBUG), so the debugger's logic — the
//! int3 path above all, which no host here exercises — runs in unit tests against a fake vCPU.

use super::debugger::{Patch, Reply, Request};
use super::pagewalk;
use crate::kvm::bindings::*;
use crate::kvm::debug::kvm_translation;
use crate::kvm::{KvmError, Vcpu};
use crate::memory::GuestMemory;

/// The vCPU calls the debugger makes.
pub trait DebugVcpu {
    fn get_regs(&self) -> Result<kvm_regs, KvmError>;
    fn set_regs(&self, regs: &kvm_regs) -> Result<(), KvmError>;
    fn get_sregs(&self) -> Result<kvm_sregs, KvmError>;
    /// The special registers at the last exit: copied out by KVM where it syncs them
    /// (KVM_CAP_SYNC_REGS: no ioctl, for checks made at every exit), else KVM_GET_SREGS.
    fn sregs_at_exit(&self) -> Result<kvm_sregs, KvmError> {
        self.get_sregs()
    }
    fn set_sregs(&self, sregs: &kvm_sregs) -> Result<(), KvmError>;
    fn translate(&self, linear: u64) -> Result<kvm_translation, KvmError>;
    /// KVM_SET_GUEST_DEBUG with `debugreg` (DR0-DR3, DR7 at index 7).
    fn set_guest_debug(&self, control: u32, debugreg: [u64; 8]) -> Result<(), KvmError>;
    /// Clears `kvm_run.immediate_exit` (kicks from before a resume: kvm/vcpu.rs, "Kick").
    fn clear_immediate_exit(&self);
}

impl DebugVcpu for Vcpu {
    fn get_regs(&self) -> Result<kvm_regs, KvmError> {
        Vcpu::get_regs(self)
    }
    fn set_regs(&self, regs: &kvm_regs) -> Result<(), KvmError> {
        Vcpu::set_regs(self, regs)
    }
    fn get_sregs(&self) -> Result<kvm_sregs, KvmError> {
        Vcpu::get_sregs(self)
    }
    fn sregs_at_exit(&self) -> Result<kvm_sregs, KvmError> {
        Vcpu::sregs_at_exit(self)
    }
    fn set_sregs(&self, sregs: &kvm_sregs) -> Result<(), KvmError> {
        Vcpu::set_sregs(self, sregs)
    }
    fn translate(&self, linear: u64) -> Result<kvm_translation, KvmError> {
        Vcpu::translate(self, linear)
    }
    fn set_guest_debug(&self, control: u32, debugreg: [u64; 8]) -> Result<(), KvmError> {
        Vcpu::set_guest_debug(self, control, debugreg)
    }
    fn clear_immediate_exit(&self) {
        Vcpu::set_immediate_exit(self, false)
    }
}

pub use crate::x86::linear_pc;

/// Is the next instruction `hlt` (0xF4)? (A single step over it skips the halt on KVM.)
pub fn at_hlt(
    vcpu: &dyn DebugVcpu,
    memory: &GuestMemory,
    regs: &kvm_regs,
    sregs: &kvm_sregs,
) -> bool {
    let mut byte = [0u8];
    copy_virtual(vcpu, memory, linear_pc(regs, sregs), Access::Read(&mut byte)).is_ok()
        && byte[0] == 0xF4
}

/// Executes one request on the vCPU's own thread.
pub fn serve(request: Request, vcpu: &dyn DebugVcpu, memory: &GuestMemory) -> Reply {
    let failed = |e: KvmError| Reply::Failed(e.to_string());
    match request {
        Request::GetRegisters => match (vcpu.get_regs(), vcpu.get_sregs()) {
            (Ok(r), Ok(s)) => Reply::Registers(Box::new((r, s))),
            (Err(e), _) | (_, Err(e)) => failed(e),
        },
        Request::SetRegisters(both) => {
            let (regs, sregs) = *both;
            match vcpu.set_regs(&regs).and_then(|_| vcpu.set_sregs(&sregs)) {
                Ok(()) => Reply::Done,
                Err(e) => failed(e),
            }
        }
        Request::Translate { addr } => {
            // The U/S bits come from walking the tables (pagewalk.rs): KVM_TRANSLATE's
            // `usermode` is always 0 on x86.
            let sregs = match vcpu.get_sregs() {
                Ok(s) => s,
                Err(e) => return failed(e),
            };
            match pagewalk::walk(memory, pagewalk::Paging::of(&sregs), sregs.cr3, addr) {
                Ok(w) => Reply::Translation { user: w.user },
                Err(why) => Reply::Failed(why),
            }
        }
        Request::Patch { addr } => patch(vcpu, memory, addr),
        Request::PageWalk { addr } => match vcpu.get_sregs() {
            Ok(sregs) => Reply::Text(super::monitor::pagewalk_text(memory, &sregs, addr)),
            Err(e) => failed(e),
        },
        Request::ReadMemory { addr, len } => {
            let mut out = vec![0u8; len];
            match copy_virtual(vcpu, memory, addr, Access::Read(&mut out)) {
                Ok(()) => Reply::Memory(out),
                Err(e) => Reply::Failed(e),
            }
        }
        Request::WriteMemory { addr, data } => {
            match copy_virtual(vcpu, memory, addr, Access::Write(&data)) {
                Ok(()) => Reply::Done,
                Err(e) => Reply::Failed(e),
            }
        }
    }
}

/// `Z0` with int3: the byte at `addr` replaced by 0xCC, and what was there, and where.
fn patch(vcpu: &dyn DebugVcpu, memory: &GuestMemory, addr: u64) -> Reply {
    let t = match vcpu.translate(addr) {
        Ok(t) if t.valid != 0 => t,
        Ok(_) => return Reply::Failed(format!("{addr:#x} is not mapped")),
        Err(e) => return Reply::Failed(e.to_string()),
    };
    let mut original = [0u8];
    let physical = t.physical_address;
    match memory.read(physical, &mut original).and_then(|_| memory.write(physical, &[0xCC])) {
        Ok(()) => Reply::Patched(Patch { original: original[0], physical }),
        Err(e) => Reply::Failed(format!("patching int3 at {addr:#x}: {e}")),
    }
}

pub enum Access<'a> {
    Read(&'a mut [u8]),
    Write(&'a [u8]),
}

/// Reads or writes guest-virtual memory page by page: each page translated with KVM_TRANSLATE
/// (the guest's own page tables), then reached through GuestMemory's bounds checks. An unmapped
/// page or one outside RAM is an error for gdb, never a host access.
pub fn copy_virtual(
    vcpu: &dyn DebugVcpu,
    memory: &GuestMemory,
    addr: u64,
    access: Access<'_>,
) -> Result<(), String> {
    let len = match &access {
        Access::Read(b) => b.len(),
        Access::Write(b) => b.len(),
    };
    let mut done = 0usize;
    let mut access = access;
    while done < len {
        let virt = addr.wrapping_add(done as u64);
        let in_page = (0x1000 - (virt & 0xFFF)) as usize;
        let chunk = in_page.min(len - done);
        let t = vcpu.translate(virt).map_err(|e| e.to_string())?;
        if t.valid == 0 {
            return Err(format!("{virt:#x} is not mapped"));
        }
        let phys = t.physical_address;
        let result = match &mut access {
            Access::Read(buf) => memory.read(phys, &mut buf[done..done + chunk]),
            Access::Write(data) => memory.write(phys, &data[done..done + chunk]),
        };
        result.map_err(|e| e.to_string())?;
        done += chunk;
    }
    Ok(())
}
