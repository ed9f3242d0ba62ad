//! gdb's software breakpoints (`Z0`/`z0`, gdb manual E.2 "Packets"): a bounded table, and for
//! the int3 method the bytes patched in guest RAM, which every way out restores.
//!
//! An int3 breakpoint writes 0xCC over the first byte of an instruction (Intel SDM Vol. 2A
//! "INT3"); KVM reports it as KVM_EXIT_DEBUG with exception 3 when the debugger asked for
//! KVM_GUESTDBG_USE_SW_BP (api.rst 4.59). The guest-physical address of each patched byte is
//! remembered when it is patched, so removing a breakpoint — or all of them, at detach or kill,
//! whether the vCPUs are stopped or running — writes the original byte back through
//! [`GuestMemory`] with no vCPU involved: no state of the VM can leave an int3 behind.

use super::{BreakpointMethod, Debugger, Reply, Request, State};
use crate::memory::GuestMemory;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// At most this many breakpoints at once (gdb gets `E22` beyond it, and a stderr line says
/// why): plenty for a person, and a bound on what a client can make mini-kvm remember.
pub const MAX_BREAKPOINTS: usize = 64;

/// A patched byte: what was there, and where in guest-physical memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Patch {
    pub original: u8,
    pub physical: u64,
}

/// Why a breakpoint could not be set or removed (the message goes to stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BreakpointError {
    /// The table is full: gdb gets E22 (EINVAL-like, as QEMU answers).
    TooMany,
    /// Memory could not be read or written (E14, EFAULT).
    Memory(String),
    /// No breakpoint at that address (E01).
    NotSet,
}

impl BreakpointError {
    pub fn reply(&self) -> &'static str {
        match self {
            BreakpointError::TooMany => "E22",
            BreakpointError::Memory(_) => "E14",
            BreakpointError::NotSet => "E01",
        }
    }
}

impl Debugger {
    /// Guest RAM, for restoring patched bytes without a vCPU (set once the VM has memory).
    pub fn attach_memory(&self, memory: Arc<GuestMemory>) {
        let _ = self.memory.set(memory);
    }

    /// Sets a breakpoint at linear `addr`, patching int3 through parked vCPU `vcpu` where
    /// that is the method. Setting one twice is fine (gdb may), and counts once.
    pub fn insert_breakpoint(&self, vcpu: usize, addr: u64) -> Result<(), BreakpointError> {
        {
            let s = self.lock();
            if s.breakpoints.contains_key(&addr) {
                return Ok(());
            }
            if s.breakpoints.len() >= MAX_BREAKPOINTS {
                return Err(BreakpointError::TooMany);
            }
        }
        let patch = match self.method {
            BreakpointMethod::SingleStep => None,
            BreakpointMethod::Int3 => match self.request(vcpu, Request::Patch { addr }) {
                Reply::Patched(patch) => Some(patch),
                Reply::Failed(why) => return Err(BreakpointError::Memory(why)),
                other => return Err(BreakpointError::Memory(format!("{other:?}"))),
            },
        };
        self.lock().breakpoints.insert(addr, patch);
        Ok(())
    }

    /// Removes the breakpoint at `addr`, restoring its byte.
    pub fn remove_breakpoint(&self, addr: u64) -> Result<(), BreakpointError> {
        let patch = self.lock().breakpoints.remove(&addr).ok_or(BreakpointError::NotSet)?;
        match patch {
            Some(patch) => self.restore(patch).map_err(BreakpointError::Memory),
            None => Ok(()),
        }
    }

    /// Removes every breakpoint and restores every patched byte, in any state of the vCPUs
    /// (detach, kill, a dropped connection). Returns what could not be restored.
    pub fn remove_all_breakpoints(&self) -> Vec<String> {
        let all = std::mem::take(&mut self.lock().breakpoints);
        all.into_values().flatten().filter_map(|patch| self.restore(patch).err()).collect()
    }

    /// The breakpoints, when they fit in the debug registers this KVM offers (single-step
    /// method only: where int3 is reported it is used, as gdb expects of `Z0`).
    pub(super) fn in_debug_registers(&self, s: &State) -> Option<Vec<u64>> {
        let slots = self.hw_breakpoints.load(Ordering::Relaxed).min(4);
        (self.method == BreakpointMethod::SingleStep
            && !s.breakpoints.is_empty()
            && s.breakpoints.len() <= slots)
            .then(|| s.breakpoints.keys().copied().collect())
    }

    /// Are breakpoints being watched by single-stepping? (The run loop then checks positions.)
    pub fn stepping_for_breakpoints(&self) -> bool {
        let s = self.lock();
        self.method == BreakpointMethod::SingleStep
            && !s.breakpoints.is_empty()
            && self.in_debug_registers(&s).is_none()
    }

    fn restore(&self, patch: Patch) -> Result<(), String> {
        let memory = self.memory.get().ok_or("no guest memory attached to the debugger")?;
        let at = patch.physical;
        memory
            .write(at, &[patch.original])
            .map_err(|e| format!("restoring the byte at {at:#x}: {e}"))
    }

    /// The patch under a breakpoint (Int3 method).
    #[cfg(test)]
    pub fn patch_at(&self, addr: u64) -> Option<Patch> {
        self.lock().breakpoints.get(&addr).copied().flatten()
    }
}

#[cfg(test)]
mod tests;
