//! gdb's `Z0`/`z0` packets (gdb manual, "Packets": software breakpoints) on the stub's side:
//! the debugger patches or single-steps them (`debugger.rs`); this file decides what gdb is
//! told, and refuses a breakpoint that this host could never report.
//!
//! On a paravirtual KVM native ring-3 code raises no single-step exits, so with the
//! single-step method a breakpoint on a user page would silently never fire: gdb gets an error
//! and the user a line on stderr saying why (`--host-check` shows "single-step in ring 3").

use super::Server;
use crate::gdb::debugger::{BreakpointError, BreakpointMethod, Reply, Request, MAX_BREAKPOINTS};
use std::sync::atomic::Ordering;

impl Server {
    /// `Z0,addr`: set a breakpoint for every vCPU; the reply gdb gets ("OK" or an error).
    pub(super) fn insert_breakpoint(&mut self, addr: u64) -> &'static str {
        if self.could_never_hit(addr) {
            return "E01";
        }
        match self.s.debugger.insert_breakpoint(self.general, addr) {
            Ok(()) => "OK",
            Err(e) => {
                match &e {
                    BreakpointError::TooMany => diag!(
                        "mini-kvm: gdb: breakpoint at {addr:#x} refused: at most \
                         {MAX_BREAKPOINTS} breakpoints at once"
                    ),
                    BreakpointError::Memory(why) => {
                        self.failed(&Reply::Failed(why.clone()));
                    }
                    BreakpointError::NotSet => {}
                }
                e.reply()
            }
        }
    }

    /// Would a breakpoint at `addr` never be hit, because breakpoints single-step here and
    /// this host cannot step the ring-3 code `addr` may belong to? Says why on stderr if so.
    fn could_never_hit(&self, addr: u64) -> bool {
        let dbg = &self.s.debugger;
        if dbg.method != BreakpointMethod::SingleStep || dbg.steps_in_ring3.load(Ordering::Relaxed)
        {
            return false;
        }
        // Native ring-3 code raises no single-step exits on some hosts: refuse, loudly.
        match dbg.request(self.general, Request::Translate { addr }) {
            Reply::Translation { user: true } => {
                diag!(
                    "mini-kvm: gdb: breakpoint at {addr:#x} refused: it is on a user-mode \
                     page, and this host runs ring-3 code natively, without single-step \
                     exits, so it could never be hit"
                );
                true
            }
            Reply::Translation { user: false } => false,
            other => {
                // Cannot tell: refuse rather than accept one that may never be hit.
                let why = match other {
                    Reply::Failed(why) => why,
                    other => format!("{other:?}"),
                };
                diag!(
                    "mini-kvm: gdb: breakpoint at {addr:#x} refused: cannot tell whether \
                     it is on a user-mode page ({why}), and this host cannot step ring-3 code"
                );
                true
            }
        }
    }

    /// `z0,addr`: remove a breakpoint; the reply gdb gets.
    pub(super) fn remove_breakpoint(&mut self, addr: u64) -> &'static str {
        match self.s.debugger.remove_breakpoint(addr) {
            Ok(()) => "OK",
            Err(e) => {
                if let BreakpointError::Memory(why) = &e {
                    diag!("mini-kvm: gdb: {why}");
                }
                e.reply()
            }
        }
    }

    /// Every patched byte back, whatever the vCPUs are doing (detach, kill, hang-up).
    pub(super) fn remove_all_breakpoints(&mut self) {
        for why in self.s.debugger.remove_all_breakpoints() {
            diag!("mini-kvm: gdb: {why}");
        }
    }
}
