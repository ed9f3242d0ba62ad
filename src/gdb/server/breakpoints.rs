//! gdb's `Z0`/`z0` packets (gdb manual, "Packets": software breakpoints) on the stub's side:
//! the debugger patches or single-steps them (`debugger.rs`); this file decides what gdb is
//! told.
//!
//! On a paravirtual KVM native ring-3 code raises no single-step exits, so with the
//! single-step method a breakpoint on a user page would never fire. It is accepted, and the
//! next `continue` or `step` stops at once with the reason as console output
//! (debugger/reachable.rs, which also finds one that lands on a user page later), and a line on
//! stderr says it too (`--host-check` shows "single-step in ring 3").

use super::Server;
use crate::console::{message, verbose};
use crate::gdb::debugger::{BreakpointError, Reach, Reply, Request, MAX_BREAKPOINTS};

impl Server {
    /// `Z0,addr`: set a breakpoint for every vCPU; gdb gets "OK" or an error.
    pub(super) fn insert_breakpoint(&mut self, addr: u64) {
        let reply = match self.s.debugger.insert_breakpoint(self.general, addr) {
            Ok(()) => {
                self.tell_if_never_hit(addr);
                "OK"
            }
            Err(e) => {
                match &e {
                    BreakpointError::TooMany => message(&format!(
                        "mini-kvm: gdb: breakpoint at {addr:#x} refused: at most \
                         {MAX_BREAKPOINTS} breakpoints at once"
                    )),
                    BreakpointError::Memory(why) if verbose() => {
                        message(&format!("mini-kvm: gdb: {why}"))
                    }
                    BreakpointError::Memory(_) | BreakpointError::NotSet => {}
                }
                e.reply()
            }
        };
        self.send(reply);
    }

    /// Whether this KVM can hit a breakpoint at `addr`, from the current vCPU's page tables.
    pub(super) fn reach(&self, addr: u64) -> Reach {
        let dbg = &self.s.debugger;
        if !dbg.user_pages_unreachable() {
            return Reach::Yes;
        }
        dbg.reach(match dbg.request(self.general, Request::Translate { addr }) {
            Reply::Translation { user } => Ok(user),
            Reply::Failed(why) => Err(why),
            other => Err(format!("{other:?}")),
        })
    }

    /// A breakpoint just set on a user page this host cannot step: the next resume stops at
    /// once and says why (debugger/reachable.rs), and stderr says it now. One not mapped yet is
    /// checked at the exits to come.
    fn tell_if_never_hit(&mut self, addr: u64) {
        if self.reach(addr) == Reach::No && self.s.debugger.report_at_next_resume(addr) {
            message(&format!(
                "mini-kvm: gdb: breakpoint at {addr:#x} can never be hit: it is on a user-mode \
                 page, and this host runs ring-3 code natively, without single-step exits (gdb \
                 is told at its next continue or step)"
            ));
        }
    }

    /// `z0,addr`: remove a breakpoint; gdb gets "OK" or an error.
    pub(super) fn remove_breakpoint(&mut self, addr: u64) {
        let reply = match self.s.debugger.remove_breakpoint(addr) {
            Ok(()) => "OK",
            Err(e) => {
                if let BreakpointError::Memory(why) = &e {
                    message(&format!("mini-kvm: gdb: {why}"));
                }
                e.reply()
            }
        };
        self.send(reply);
    }

    /// Every patched byte back, whatever the vCPUs are doing (detach, kill, hang-up).
    pub(super) fn remove_all_breakpoints(&mut self) {
        for why in self.s.debugger.remove_all_breakpoints() {
            message(&format!("mini-kvm: gdb: {why}"));
        }
    }
}
