//! Which breakpoints this KVM can hit, and telling gdb about one it cannot.
//!
//! Where breakpoints are watched by single-stepping and the host runs ring-3 code natively
//! without single-step exits (a paravirtual KVM: `--host-check` "single-step in ring 3"), a
//! breakpoint on a user-mode page never fires. Whether an address is on one is known only from
//! the guest's page tables (the U/S bit at every level, pagewalk.rs), and they change: a
//! breakpoint set on `main` before the program is loaded is on no page yet. So the answer is
//! given to the person at gdb, through what the remote protocol allows (gdb manual, "Stop
//! Replies": console output, `O`, before a stop reply; never in place of a reply):
//!
//! * a breakpoint gdb inserts (`Z0`) on a user page is accepted, and the next `continue` or
//!   `step` stops at once, the reason printed before the stop;
//! * one that turns out to be on a user page later is found at an exit: after each port-I/O
//!   exit (the run loop's hook, [`Debugger::check_reachable_at_exit`]) and each single step
//!   ([`Debugger::keep_stepping`]) the breakpoints not yet reported are walked through the
//!   vCPU's tables (a few reads of guest RAM each), and the first one found on a user page
//!   stops the guest, with the reason;
//! * `monitor breakpoints` lists every breakpoint and whether this KVM can hit it.
//!
//! Each address is reported once per gdb session (gdb removes and inserts every breakpoint at
//! each stop and resume).

use super::{AfterDebugExit, BreakpointMethod, Debugger, StopReason};
use crate::console::message;
use crate::gdb::access::DebugVcpu;
use crate::gdb::pagewalk::{self, Paging};
use std::cell::Cell;
use std::sync::atomic::Ordering;

thread_local! {
    /// The vCPU this thread runs, for a stop the run loop's hooks find without being told
    /// which vCPU they run for (set when it parks and at each debug exit).
    static THIS_VCPU: Cell<Option<usize>> = const { Cell::new(None) };
}

/// Says that this thread runs vCPU `index`.
pub(super) fn set_this_vcpu(index: usize) {
    THIS_VCPU.with(|v| v.set(Some(index)));
}

/// The most addresses remembered as reported: beyond it, only those still set are kept.
const MAX_REPORTED: usize = 4 * super::MAX_BREAKPOINTS;

/// Why a breakpoint at `addr` will not fire here, as gdb's console shows it.
pub fn unreachable_note(addr: u64) -> String {
    format!(
        "mini-kvm: the breakpoint at {addr:#x} can never be hit on this KVM: it is on a \
         user-mode page, and this KVM runs ring-3 code natively, without single-step exits \
         (mini-kvm --host-check: \"single-step in ring 3\"); the guest stopped here to say so, \
         once. `monitor breakpoints` lists which breakpoints can be hit; a hardware (VMX/SVM) \
         KVM can hit this one.\n"
    )
}

/// Whether this KVM can hit a breakpoint, as `monitor breakpoints` says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reach {
    /// This KVM can hit a breakpoint anywhere.
    Yes,
    /// On a supervisor page now: it can be hit (and is checked at exits, in case that changes).
    Supervisor,
    /// On a user-mode page, which this KVM cannot step.
    No,
    /// Not mapped now: found out when it is (at the exits where the run loop checks).
    NotMapped(String),
}

impl Debugger {
    /// Can a breakpoint on a user page never be hit here?
    pub fn user_pages_unreachable(&self) -> bool {
        self.method == BreakpointMethod::SingleStep && !self.steps_in_ring3.load(Ordering::Relaxed)
    }

    /// What a translation of a breakpoint's address (`user`: whether it is on a user page, or
    /// why it could not be walked) means for whether it can be hit.
    pub fn reach(&self, user: Result<bool, String>) -> Reach {
        match user {
            _ if !self.user_pages_unreachable() => Reach::Yes,
            Ok(true) => Reach::No,
            Ok(false) => Reach::Supervisor,
            Err(why) => Reach::NotMapped(why),
        }
    }

    /// gdb inserted a breakpoint at `addr`, on a user page this KVM cannot step: unless it was
    /// reported already (then false), the next resume stops at once with the reason.
    pub fn report_at_next_resume(&self, addr: u64) -> bool {
        let mut s = self.lock();
        let new = remember(&mut s, addr);
        if new {
            s.pending_stop = Some(unreachable_note(addr));
        }
        new
    }

    /// The reason to stop with instead of resuming, once.
    pub fn take_pending_stop(&self) -> Option<String> {
        self.lock().pending_stop.take()
    }

    /// A new gdb session: every breakpoint may be reported to it again.
    pub fn forget_reported(&self) {
        let mut s = self.lock();
        s.reported.clear();
        s.pending_stop = None;
    }

    /// After an exit of vCPU `index` (the run loop's hook, hook.rs): a breakpoint not
    /// reported yet that is now on a user page stops the VM with the reason; the caller kicks
    /// the other vCPUs.
    pub fn check_reachable_at_exit(&self, index: usize, vcpu: &dyn DebugVcpu) -> AfterDebugExit {
        set_this_vcpu(index);
        if self.check_reachable(vcpu) {
            AfterDebugExit::Park
        } else {
            AfterDebugExit::Run
        }
    }

    /// At an exit, with the vCPU about to go on: a breakpoint not reported yet that is now on
    /// a user page stops the VM with the reason (returns true; the gdb thread kicks the other
    /// vCPUs too, for a caller that cannot).
    pub(super) fn check_reachable(&self, vcpu: &dyn DebugVcpu) -> bool {
        if !self.user_pages_unreachable() {
            return false;
        }
        let unreported: Vec<u64> = {
            let s = self.lock();
            s.breakpoints.keys().filter(|a| !s.reported.contains(a)).copied().collect()
        };
        if unreported.is_empty() {
            return false;
        }
        let Some(memory) = self.memory.get() else { return false };
        let Ok(sregs) = vcpu.sregs_at_exit() else { return false };
        let paging = Paging::of(&sregs);
        let on_user_page = |addr: &u64| {
            pagewalk::walk(memory.as_ref(), paging, sregs.cr3, *addr).is_ok_and(|w| w.user)
        };
        let Some(addr) = unreported.into_iter().find(on_user_page) else { return false };
        let mut s = self.lock();
        remember(&mut s, addr);
        if s.stop.is_none() {
            s.note = Some(unreachable_note(addr));
        }
        drop(s);
        message(&format!("mini-kvm: gdb: breakpoint at {addr:#x} is now on a user-mode page: it can never be hit on this KVM (the guest stops once to tell gdb)"));
        let index = THIS_VCPU.with(Cell::get).unwrap_or(0);
        self.request_stop(StopReason::Breakpoint(index));
        self.kick_wanted.store(true, Ordering::SeqCst);
        true
    }

    /// Should the gdb thread kick every vCPU (a vCPU stopped the VM from a hook that cannot)?
    /// Once per request.
    pub fn take_kick_wanted(&self) -> bool {
        self.kick_wanted.swap(false, Ordering::SeqCst)
    }

    /// The breakpoints, by address.
    pub fn breakpoint_addresses(&self) -> Vec<u64> {
        self.lock().breakpoints.keys().copied().collect()
    }

    /// How `count` breakpoints are watched, in words.
    pub fn how_watched(&self, count: usize) -> &'static str {
        let slots = self.hw_breakpoints.load(Ordering::Relaxed).min(4);
        match self.method {
            BreakpointMethod::Int3 => "int3",
            BreakpointMethod::SingleStep if count <= slots => "debug register",
            BreakpointMethod::SingleStep => "single-stepped",
        }
    }
}

/// Marks `addr` as reported; false if it was already. The set stays bounded.
fn remember(s: &mut super::State, addr: u64) -> bool {
    if s.reported.len() >= MAX_REPORTED {
        let set = &s.breakpoints;
        s.reported.retain(|a| set.contains_key(a));
    }
    s.reported.insert(addr)
}

#[cfg(test)]
mod tests;
