//! Unit tests of reachable.rs: a breakpoint that lands on a user page is reported once, with
//! a fake vCPU whose page tables live in a real GuestMemory.
use super::*;
use crate::kvm::bindings::*;
use crate::kvm::debug::*;
use crate::kvm::KvmError;
use crate::memory::GuestMemory;
use crate::x86::{CR0_PE, CR0_PG, CR4_PAE, EFER_LMA, EFER_LME};
use std::sync::Arc;

/// A vCPU in long mode with CR3 at 0x1000; only its special registers are asked for.
struct FakeVcpu;

impl DebugVcpu for FakeVcpu {
    fn get_regs(&self) -> Result<kvm_regs, KvmError> {
        Ok(kvm_regs::default())
    }
    fn set_regs(&self, _: &kvm_regs) -> Result<(), KvmError> {
        Ok(())
    }
    fn get_sregs(&self) -> Result<kvm_sregs, KvmError> {
        Ok(kvm_sregs {
            cr0: CR0_PE | CR0_PG,
            cr3: 0x1000,
            cr4: CR4_PAE,
            efer: EFER_LME | EFER_LMA,
            ..Default::default()
        })
    }
    fn set_sregs(&self, _: &kvm_sregs) -> Result<(), KvmError> {
        Ok(())
    }
    fn translate(&self, _: u64) -> Result<kvm_translation, KvmError> {
        Ok(kvm_translation::default())
    }
    fn set_guest_debug(&self, _: u32, _: [u64; 8]) -> Result<(), KvmError> {
        Ok(())
    }
    fn clear_immediate_exit(&self) {}
}

const USER: u64 = 0x40_0000;
const KERNEL: u64 = 0x20_0000;

/// PML4 0x1000 -> PDPT 0x2000 -> PD 0x3000: entry 1 a 2 MiB supervisor page at KERNEL; entry
/// 2 the table at 0x4000, whose first entry maps USER, once `map_user` has run.
fn tables() -> Arc<GuestMemory> {
    let m = Arc::new(GuestMemory::new(1 << 20).unwrap());
    let put = |at: u64, v: u64| m.write(at, &v.to_le_bytes()).unwrap();
    put(0x1000, 0x2007);
    put(0x2000, 0x3007);
    put(0x3000 + 8, KERNEL | 0x83);
    put(0x3000 + 16, 0x4007);
    m
}

fn map_user(m: &GuestMemory) {
    m.write(0x4000, &(0x8_0000u64 | 7).to_le_bytes()).unwrap();
}

fn debugger(m: &Arc<GuestMemory>) -> Debugger {
    let d = Debugger::new(1, BreakpointMethod::SingleStep);
    d.steps_in_ring3.store(false, Ordering::Relaxed);
    d.attach_memory(Arc::clone(m));
    d.resume(None);
    d
}

#[test]
fn a_breakpoint_that_lands_on_a_user_page_stops_the_guest_once() {
    let m = tables();
    let d = debugger(&m);
    d.insert_breakpoint(0, USER).unwrap(); // not mapped yet (the program is not loaded)
    d.insert_breakpoint(0, KERNEL).unwrap();
    set_this_vcpu(0);
    d.check_reachable(&FakeVcpu);
    assert!(!d.wants_pause(), "a supervisor page and an unmapped one: nothing to say");
    map_user(&m);
    d.check_reachable(&FakeVcpu);
    assert!(d.wants_pause());
    assert!(d.take_kick_wanted() && !d.take_kick_wanted());
    assert_eq!(d.lock().stop, Some(StopReason::Breakpoint(0)));
    assert_eq!(d.take_note(), Some(unreachable_note(USER)));
    // Reported once: gdb removes and inserts it again at the next resume, and it runs on.
    d.resume(None);
    d.remove_breakpoint(USER).unwrap();
    d.insert_breakpoint(0, USER).unwrap();
    d.check_reachable(&FakeVcpu);
    assert!(!d.wants_pause());
    // A new gdb session hears it again.
    d.forget_reported();
    d.check_reachable(&FakeVcpu);
    assert!(d.wants_pause());
}

#[test]
fn one_set_on_a_user_page_stops_the_next_resume_once() {
    let m = tables();
    let d = debugger(&m);
    assert!(d.report_at_next_resume(USER));
    assert_eq!(d.take_pending_stop(), Some(unreachable_note(USER)));
    assert_eq!(d.take_pending_stop(), None);
    assert!(!d.report_at_next_resume(USER));
    assert_eq!(d.take_pending_stop(), None, "once");
}

#[test]
fn where_ring_3_can_be_stepped_every_breakpoint_can_be_hit() {
    let m = tables();
    map_user(&m);
    let d = Debugger::new(1, BreakpointMethod::SingleStep);
    d.attach_memory(Arc::clone(&m));
    d.resume(None);
    d.insert_breakpoint(0, USER).unwrap();
    d.check_reachable(&FakeVcpu);
    assert!(!d.wants_pause());
    assert_eq!(d.reach(Ok(true)), Reach::Yes);
    d.steps_in_ring3.store(false, Ordering::Relaxed);
    assert_eq!(d.reach(Ok(true)), Reach::No);
    assert_eq!(d.reach(Ok(false)), Reach::Supervisor);
    assert!(matches!(d.reach(Err("no".into())), Reach::NotMapped(_)));
}
