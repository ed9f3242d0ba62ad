//! The vCPU side of `--gdb`: stopping every vCPU together, serving gdb's requests on the vCPU's
//! own thread, single-stepping and breakpoints through KVM_SET_GUEST_DEBUG.
//!
//! gdb's remote protocol assumes "all-stop" mode (gdb manual, "Remote Protocol" > "Stop
//! Replies"): when one thread stops, they all do, and gdb inspects them at leisure. Here each
//! vCPU thread checks one atomic flag before every KVM_RUN (hook.rs); a stop request sets it
//! and kicks every vCPU (through vcpu::Control), and each one *parks*: it waits on a condition
//! variable and, while parked, executes the requests gdb sends it — read registers, translate
//! an address, write memory — because a vCPU's ioctls belong on its own thread (a vCPU fd is
//! used by one thread at a time, api.rst 2).
//!
//! Stepping: KVM_SET_GUEST_DEBUG with KVM_GUESTDBG_SINGLESTEP makes KVM exit with
//! KVM_EXIT_DEBUG after each guest instruction, `debug.arch.pc` holding the linear address of
//! the next one (api.rst 4.59).
//!
//! Breakpoints, three ways (breakpoints.rs): where the host traps `int3` for the debugger
//! (KVM_GUESTDBG_USE_SW_BP), the stub writes 0xCC over the instruction, as every debugger does.
//! Some KVMs never report `int3` (a paravirtual KVM, or kvm_amd nested under QEMU:
//! docs/kvm-variants.md); there up to four go in the debug registers (KVM_GUESTDBG_USE_HW_BP)
//! where KVM reports those, and otherwise the vCPU single-steps while breakpoints exist and
//! stops when the next linear RIP is one of them: slow (about 130,000 instructions per second
//! on a paravirtual KVM), and blind wherever the trap flag is lost (an interrupt gate clears
//! it). Code running natively in ring 3 produces no single-step exits (nor debug-register
//! hits), so where that is the case a breakpoint on a user-mode page can never fire: gdb is
//! told so rather than left waiting (reachable.rs).

use super::access::{at_hlt, serve, DebugVcpu};
use crate::kvm::bindings::*;
use crate::kvm::debug::*;
use crate::kvm::KvmError;
use crate::memory::GuestMemory;
pub use breakpoints::{BreakpointError, Patch, MAX_BREAKPOINTS};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

/// What the run loop does after a KVM_EXIT_DEBUG (hook.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterDebugExit {
    /// Keep running (a single-step that reached no breakpoint).
    Run,
    /// Stop the VM and park.
    Park,
    /// Clear RFLAGS.TF (leaked from a step into a saved frame), then keep running.
    ClearTrapFlag,
}

/// How a vCPU's thread ended, as gdb is told (`W` exit status, `X` signal).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ended {
    /// EXIT, EXIT_STATUS or HLT: the guest's own status.
    Exit(u8),
    /// A guest fault or a host failure, with the reason.
    Fault(String),
    /// Stopped from outside (timeout, signal, Ctrl-A x, gdb's kill).
    Stopped,
}

/// How breakpoints are implemented on this host (decided once, at start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakpointMethod {
    /// Patch `int3` (0xCC); KVM reports it as KVM_EXIT_DEBUG, exception 3.
    Int3,
    /// Single-step and compare the next RIP with every breakpoint.
    SingleStep,
}

/// Why the VM stopped, for gdb's stop reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// Before the first instruction (gdb's "target remote" sees SIGTRAP).
    Initial,
    /// vCPU finished a single step.
    Step(usize),
    /// vCPU reached a breakpoint.
    Breakpoint(usize),
    /// gdb sent Ctrl-C.
    Interrupt,
}

/// What gdb asks a parked vCPU to do.
#[derive(Debug, Clone)]
pub enum Request {
    /// KVM_GET_REGS and KVM_GET_SREGS.
    GetRegisters,
    /// KVM_SET_REGS and KVM_SET_SREGS.
    SetRegisters(Box<(kvm_regs, kvm_sregs)>),
    /// `len` bytes at guest-virtual `addr`.
    ReadMemory { addr: u64, len: usize },
    /// `data` written at guest-virtual `addr`.
    WriteMemory { addr: u64, data: Vec<u8> },
    /// Is `addr` mapped, and is it a user-mode page? (for refusing breakpoints)
    Translate { addr: u64 },
    /// Write int3 over the byte at `addr`; answer with what was there, and where.
    Patch { addr: u64 },
    /// `monitor pagewalk`: the walk of `addr` through this vCPU's tables, in words.
    PageWalk { addr: u64 },
}

#[derive(Debug, Clone)]
pub enum Reply {
    /// The registers, for GetRegisters.
    Registers(Box<(kvm_regs, kvm_sregs)>),
    /// The bytes read, for ReadMemory.
    Memory(Vec<u8>),
    /// A request that changes the vCPU or memory has been carried out.
    Done,
    /// The page of a Translate request: a user-mode page or not.
    Translation { user: bool },
    /// The int3 is in place: what was under it, and where.
    Patched(Patch),
    /// A PageWalk, in words.
    Text(String),
    /// Unmapped address, or an ioctl failed: gdb gets an error reply.
    Failed(String),
}

/// How a parked vCPU leaves the park.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Stay parked (another vCPU is being stepped).
    Stay,
    Continue,
    Step,
}

#[derive(Default)]
struct State {
    parked: Vec<bool>,
    ended: Vec<bool>,
    stop: Option<StopReason>,
    resume: Vec<Resume>,
    /// Bumped at every resume, so a parked vCPU sees new orders exactly once.
    generation: u64,
    requests: Vec<Option<Request>>,
    replies: Vec<Option<Reply>>,
    /// Breakpoint linear address -> the byte under the int3 (Int3 method only).
    breakpoints: BTreeMap<u64, Option<Patch>>,
    /// Which vCPUs are stepping for gdb's `s` (as opposed to breakpoint stepping).
    stepping: Vec<bool>,
    how_ended: Vec<Option<Ended>>,
    /// Said to gdb as console output ('O') before the next stop reply.
    note: Option<String>,
    /// Breakpoints already reported as unreachable to this gdb session (reachable.rs).
    reported: std::collections::BTreeSet<u64>,
    /// Why the next resume stops at once instead (reachable.rs), said as console output.
    pending_stop: Option<String>,
}

/// Shared by the gdb thread and every vCPU thread.
pub struct Debugger {
    pause: AtomicBool,
    state: Mutex<State>,
    changed: Condvar,
    pub method: BreakpointMethod,
    /// Guest RAM, to restore patched bytes with no vCPU's help (breakpoints.rs).
    memory: OnceLock<Arc<GuestMemory>>,
    /// Some step has run (so a trap flag may have leaked into a saved RFLAGS: arm).
    ever_stepped: AtomicBool,
    /// Debug registers KVM lets the debugger use (KVM_CAP_GUEST_DEBUG_HW_BPS; 0 = none).
    pub hw_breakpoints: std::sync::atomic::AtomicUsize,
    /// gdb's steps run with KVM_GUESTDBG_BLOCKIRQ (where KVM offers it).
    pub block_irq_in_steps: AtomicBool,
    /// Single steps reach ring-3 code (false where the host runs it natively).
    pub steps_in_ring3: AtomicBool,
    /// The VM has no in-kernel interrupt controller, so `hlt` ends a vCPU (KVM_EXIT_HLT).
    hlt_ends_vcpu: AtomicBool,
    /// A vCPU stopped the VM from a hook that cannot kick the others: the gdb thread does.
    kick_wanted: AtomicBool,
}

impl Debugger {
    pub fn new(vcpus: usize, method: BreakpointMethod) -> Debugger {
        Debugger {
            // Start paused: gdb gets control before the first guest instruction.
            pause: AtomicBool::new(true),
            state: Mutex::new(State {
                parked: vec![false; vcpus],
                ended: vec![false; vcpus],
                stop: Some(StopReason::Initial),
                resume: vec![Resume::Stay; vcpus],
                requests: vec![None; vcpus],
                replies: vec![None; vcpus],
                stepping: vec![false; vcpus],
                how_ended: vec![None; vcpus],
                ..State::default()
            }),
            changed: Condvar::new(),
            method,
            hlt_ends_vcpu: AtomicBool::new(false),
            memory: OnceLock::new(),
            steps_in_ring3: AtomicBool::new(true),
            block_irq_in_steps: AtomicBool::new(false),
            hw_breakpoints: std::sync::atomic::AtomicUsize::new(0),
            ever_stepped: AtomicBool::new(false),
            kick_wanted: AtomicBool::new(false),
        }
    }

    /// Says the VM has no in-kernel interrupt controller: `hlt` ends a vCPU there.
    pub fn set_hlt_ends_vcpu(&self, ends: bool) {
        self.hlt_ends_vcpu.store(ends, Ordering::Relaxed);
    }

    pub fn hlt_ends_vcpu(&self) -> bool {
        self.hlt_ends_vcpu.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is plain data; a panicking thread cannot leave it half-updated in a way
        // that matters more than losing the debugger entirely.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the state changes, or `ms` milliseconds pass (then the caller looks again).
    fn wait<'a>(&self, s: MutexGuard<'a, State>, ms: u64) -> MutexGuard<'a, State> {
        let waited = self.changed.wait_timeout(s, Duration::from_millis(ms));
        waited.unwrap_or_else(|e| e.into_inner()).0
    }

    /// Checked by each vCPU before KVM_RUN: one relaxed load.
    #[inline]
    pub fn wants_pause(&self) -> bool {
        self.pause.load(Ordering::Relaxed)
    }

    /// Stops the VM for `reason` (the first reason wins). The caller kicks running vCPUs.
    pub fn request_stop(&self, reason: StopReason) {
        let mut s = self.lock();
        s.stop.get_or_insert(reason);
        self.pause.store(true, Ordering::SeqCst);
        drop(s);
        self.changed.notify_all();
    }

    /// A vCPU thread ended (guest exit, fault, VM stop), and how.
    pub fn vcpu_ended(&self, index: usize, how: Ended) {
        let mut s = self.lock();
        if index < s.ended.len() {
            (s.ended[index], s.how_ended[index]) = (true, Some(how));
        }
        drop(s);
        self.changed.notify_all();
    }

    /// How the vCPUs ended, for gdb's `W`/`X` reply (None for one still running).
    pub fn how_ended(&self) -> Vec<Option<Ended>> {
        self.lock().how_ended.clone()
    }

    // ---------------------------------------------------------------- vCPU thread side

    /// Sets this vCPU's KVM debug state for how it is about to run. `at_hlt`: the next
    /// instruction is `hlt`. KVM ends a single step over `hlt` with KVM_EXIT_DEBUG and drops
    /// the halt (x86.c kvm_emulate_halt skips the instruction, and the step's exit wins), so a
    /// VM without an interrupt controller would run on into whatever follows; there `hlt` runs
    /// unstepped and ends the vCPU, as it does without a debugger.
    fn arm(&self, vcpu: &dyn DebugVcpu, step: bool, at_hlt: bool) -> Result<(), KvmError> {
        let s = self.lock();
        let hw = self.in_debug_registers(&s);
        let bp_stepping = self.method == BreakpointMethod::SingleStep
            && !s.breakpoints.is_empty()
            && hw.is_none();
        let int3 = self.method == BreakpointMethod::Int3 && !s.breakpoints.is_empty();
        drop(s);
        let mut control = 0;
        let mut debugreg = [0u64; 8];
        if let Some(addrs) = hw {
            // Instruction breakpoints in DR0-DR3 (Intel SDM Vol. 3B 18.2: R/W and LEN 00 =
            // execute; L0-L3, bits 0/2/4/6, enable them): they trap in any ring, at full speed.
            control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
            for (i, addr) in addrs.iter().enumerate() {
                debugreg[i] = *addr;
                debugreg[7] |= 1 << (2 * i);
            }
        }
        let hlt_ends = at_hlt && self.hlt_ends_vcpu.load(Ordering::Relaxed);
        if (step || bp_stepping) && !hlt_ends {
            control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_SINGLESTEP;
        }
        if int3 {
            control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP;
        }
        if step && !hlt_ends && self.block_irq_in_steps.load(Ordering::Relaxed) {
            // gdb's stepi: no interrupt in between (QEMU's gdbstub masks them the same way).
            control |= KVM_GUESTDBG_BLOCKIRQ;
        }
        if control & KVM_GUESTDBG_SINGLESTEP != 0 {
            self.ever_stepped.store(true, Ordering::Relaxed);
        } else if self.ever_stepped.load(Ordering::Relaxed) {
            // Keep #DB coming to us: a step that crossed `int n` left KVM's trap flag in a
            // saved RFLAGS, and the guest's `iret` would bring it back as a #DB of its own
            // (the 1K OS kills the program). With KVM_GUESTDBG_USE_HW_BP and no register
            // enabled, KVM reports it instead (svm.c/vmx.c #DB intercepts), and the run loop
            // clears the flag (hook.rs).
            control |= KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_HW_BP;
        }
        vcpu.set_guest_debug(control, debugreg)
    }

    /// Parks vCPU `index` until gdb resumes it (or the VM is stopped: returns false). Serves
    /// gdb's requests meanwhile.
    pub fn park(
        &self,
        index: usize,
        vcpu: &dyn DebugVcpu,
        memory: &GuestMemory,
        stopping: &dyn Fn() -> bool,
    ) -> bool {
        reachable::set_this_vcpu(index);
        let mut s = self.lock();
        let mut seen = s.generation;
        // No stop is waiting for this vCPU: gdb resumed it between its look at the pause flag
        // and this lock (it would wait for a second resume that never comes), or it is the
        // vCPU being stepped and a kick (stdout's flush tick, say) brought it back here before
        // its step ended. It leaves at once, as if resumed now.
        if s.stop.is_none() && s.resume[index] != Resume::Stay {
            seen = seen.wrapping_sub(1);
        }
        s.parked[index] = true;
        self.changed.notify_all();
        loop {
            if stopping() {
                s.parked[index] = false;
                return false;
            }
            if let Some(request) = s.requests[index].take() {
                drop(s);
                let reply = serve(request, vcpu, memory);
                s = self.lock();
                s.replies[index] = Some(reply);
                self.changed.notify_all();
                continue;
            }
            if s.generation != seen && s.resume[index] != Resume::Stay {
                // Forget kicks from before the resume, under the lock: a stop requested from
                // now on kicks again after this, so KVM_RUN returns at once and the vCPU parks.
                vcpu.clear_immediate_exit();
                if s.stop.is_some() {
                    // Stopped again (Ctrl-C) before this vCPU even left: stay.
                    seen = s.generation;
                    continue;
                }
                let step = s.resume[index] == Resume::Step;
                s.stepping[index] = step;
                s.parked[index] = false;
                drop(s);
                let hlt = match (vcpu.get_regs(), vcpu.get_sregs()) {
                    (Ok(r), Ok(sr)) => at_hlt(vcpu, memory, &r, &sr),
                    _ => false,
                };
                return self.arm(vcpu, step, hlt).is_ok();
            }
            // Wake up now and then to notice a VM stop (timeout, signal) that sets no condvar.
            s = self.wait(s, 50);
        }
    }

    /// A KVM_EXIT_DEBUG on vCPU `index` with the next instruction at linear `pc`.
    pub fn on_debug_exit(&self, index: usize, exception: u32, pc: u64) -> AfterDebugExit {
        reachable::set_this_vcpu(index);
        let s = self.lock();
        let at_breakpoint = s.breakpoints.contains_key(&pc);
        let stepping = s.stepping[index];
        drop(s);
        if exception == 3 || at_breakpoint {
            self.request_stop(StopReason::Breakpoint(index));
            AfterDebugExit::Park
        } else if stepping {
            self.request_stop(StopReason::Step(index));
            AfterDebugExit::Park
        } else if exception == 1 && !self.stepping_for_breakpoints() {
            // Nobody asked for this #DB: a trap flag our steps left in the guest.
            AfterDebugExit::ClearTrapFlag
        } else {
            AfterDebugExit::Run
        }
    }

    /// After an exit that is not a debug exit (port I/O, for one): KVM may have completed an
    /// instruction without a single-step exit (this project's KVM merges the step of an `out`
    /// with the next one), so check the new position against the breakpoints too.
    pub fn check_position(&self, index: usize, linear_rip: u64) -> AfterDebugExit {
        reachable::set_this_vcpu(index);
        let s = self.lock();
        let hit =
            self.method == BreakpointMethod::SingleStep && s.breakpoints.contains_key(&linear_rip);
        drop(s);
        if hit {
            self.request_stop(StopReason::Breakpoint(index));
            AfterDebugExit::Park
        } else {
            AfterDebugExit::Run
        }
    }

    /// Is vCPU `index` stepping for gdb's `s`?
    pub fn is_stepping(&self, index: usize) -> bool {
        self.lock().stepping.get(index).copied().unwrap_or(false)
    }

    /// gdb's step on vCPU `index` ended at an exit for which KVM reported no step; `note`, if
    /// any, is told to gdb with the stop reply.
    pub fn step_ended(&self, index: usize, note: Option<String>) {
        let mut s = self.lock();
        if s.stop.is_none() {
            s.note = note;
        }
        drop(s);
        self.request_stop(StopReason::Step(index));
    }

    /// The note for the stop being reported, once.
    pub fn take_note(&self) -> Option<String> {
        self.lock().note.take()
    }

    /// While breakpoints are watched by single-stepping, sets KVM_GUESTDBG_SINGLESTEP again
    /// before the vCPU goes on. KVM steps with the trap flag, which it keeps in the guest's
    /// RFLAGS only while RIP is where KVM_SET_GUEST_DEBUG was called: an instruction that
    /// KVM completes itself loses it (on AMD SVM without NRIPS, as nested under QEMU's
    /// software CPU, every intercepted RDMSR/WRMSR or CR access does), and the guest would run
    /// past every breakpoint from there on. One ioctl per step keeps it exact on every KVM.
    /// `at_hlt` as for [`Self::arm`].
    /// It is also where a breakpoint that can never be hit is found (reachable.rs): this is
    /// called at every exit of a vCPU whose breakpoints are watched by single-stepping.
    pub fn keep_stepping(&self, vcpu: &dyn DebugVcpu, at_hlt: bool) -> Result<(), KvmError> {
        self.check_reachable(vcpu);
        // Also when the last breakpoint went while the vCPU ran (detach): this disarms it.
        self.arm(vcpu, false, at_hlt)
    }
}

mod breakpoints;
mod gdb_side;
mod reachable;
pub use reachable::Reach;

#[cfg(test)]
mod tests;
