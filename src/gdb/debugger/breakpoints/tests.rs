//! The int3 path with a fake vCPU (no host here reports int3): patching, hitting, and every
//! byte restored at detach or kill, with the vCPU parked or running.
use super::*;
use crate::gdb::access::DebugVcpu;
use crate::gdb::debugger::{AfterDebugExit, StopReason};
use crate::kvm::bindings::*;
use crate::kvm::debug::*;
use crate::kvm::KvmError;
use std::sync::Mutex;

/// A vCPU in real mode with paging off: KVM_TRANSLATE is the identity; KVM_SET_GUEST_DEBUG
/// calls are recorded.
#[derive(Default)]
struct FakeVcpu {
    regs: Mutex<kvm_regs>,
    debug: Mutex<Vec<u32>>,
}

impl DebugVcpu for FakeVcpu {
    fn get_regs(&self) -> Result<kvm_regs, KvmError> {
        Ok(*self.regs.lock().unwrap())
    }
    fn set_regs(&self, regs: &kvm_regs) -> Result<(), KvmError> {
        *self.regs.lock().unwrap() = *regs;
        Ok(())
    }
    fn get_sregs(&self) -> Result<kvm_sregs, KvmError> {
        Ok(kvm_sregs::default())
    }
    fn set_sregs(&self, _: &kvm_sregs) -> Result<(), KvmError> {
        Ok(())
    }
    fn translate(&self, linear: u64) -> Result<kvm_translation, KvmError> {
        Ok(kvm_translation {
            linear_address: linear,
            physical_address: linear,
            valid: 1,
            ..Default::default()
        })
    }
    fn set_guest_debug(&self, control: u32, _: [u64; 8]) -> Result<(), KvmError> {
        self.debug.lock().unwrap().push(control);
        Ok(())
    }
    fn clear_immediate_exit(&self) {}
}

const CODE: [u8; 4] = [0x90, 0x40, 0x41, 0xF4]; // nop, inc ax, inc cx, hlt

fn setup() -> (Arc<Debugger>, Arc<GuestMemory>) {
    let memory = Arc::new(GuestMemory::new(0x10000).unwrap());
    memory.write(0x1000, &CODE).unwrap();
    let d = Arc::new(Debugger::new(1, BreakpointMethod::Int3));
    d.attach_memory(Arc::clone(&memory));
    (d, memory)
}

/// A vCPU thread that parks, and once resumed reports one int3 hit at `hit` (KVM's pc for
/// exception 3 is the int3's own address) and parks again, until the VM stops.
fn vcpu_thread(
    d: &Arc<Debugger>,
    memory: &Arc<GuestMemory>,
    hit: Option<u64>,
) -> std::thread::JoinHandle<Vec<u32>> {
    let (d, memory) = (Arc::clone(d), Arc::clone(memory));
    std::thread::spawn(move || {
        let vcpu = FakeVcpu::default();
        let stop = std::sync::atomic::AtomicBool::new(false);
        let stopping = || stop.load(std::sync::atomic::Ordering::SeqCst);
        let mut hits = hit.into_iter();
        while d.park(0, &vcpu, &memory, &stopping) {
            if let Some(pc) = hits.next() {
                assert_eq!(d.on_debug_exit(0, 3, pc), AfterDebugExit::Park);
            } else {
                // Runs on (detached): end the thread as a guest exit would.
                break;
            }
        }
        d.vcpu_ended(0, crate::gdb::debugger::Ended::Exit(0));
        vcpu.debug.into_inner().unwrap()
    })
}

fn bytes(memory: &GuestMemory) -> [u8; 4] {
    let mut b = [0u8; 4];
    memory.read(0x1000, &mut b).unwrap();
    b
}

#[test]
fn int3_is_patched_hit_and_restored_at_detach() {
    let (d, memory) = setup();
    let vcpu = vcpu_thread(&d, &memory, Some(0x1002));
    d.insert_breakpoint(0, 0x1002).unwrap();
    d.insert_breakpoint(0, 0x1003).unwrap();
    d.insert_breakpoint(0, 0x1003).unwrap(); // twice: one patch, the original kept
    assert_eq!(bytes(&memory), [0x90, 0x40, 0xCC, 0xCC]);
    assert_eq!(d.patch_at(0x1003), Some(Patch { original: 0xF4, physical: 0x1003 }));
    d.resume(None);
    assert_eq!(d.wait_stopped(&|| false), Some(StopReason::Breakpoint(0)));
    // Removing one restores it; detach (all) restores the rest, with the vCPU parked.
    d.remove_breakpoint(0x1002).unwrap();
    assert_eq!(bytes(&memory), [0x90, 0x40, 0x41, 0xCC]);
    assert!(d.remove_all_breakpoints().is_empty());
    assert_eq!(bytes(&memory), CODE);
    d.resume(None);
    let debug = vcpu.join().unwrap();
    // Armed for int3 while breakpoints existed, and never single-stepping.
    assert!(debug.iter().all(|c| c & KVM_GUESTDBG_SINGLESTEP == 0), "{debug:?}");
    assert!(debug.contains(&(KVM_GUESTDBG_ENABLE | KVM_GUESTDBG_USE_SW_BP)), "{debug:?}");
    assert_eq!(debug.last(), Some(&0), "disarmed once none are left: {debug:?}");
}

#[test]
fn detach_or_kill_while_running_restores_every_byte() {
    let (d, memory) = setup();
    let vcpu = vcpu_thread(&d, &memory, None);
    for addr in 0x1000..0x1004 {
        d.insert_breakpoint(0, addr).unwrap();
    }
    assert_eq!(bytes(&memory), [0xCC; 4]);
    d.resume(None);
    vcpu.join().unwrap(); // running (here: ended): no vCPU can serve a request now
    assert!(!d.is_stopped() || d.live_vcpus().is_empty());
    assert!(d.remove_all_breakpoints().is_empty());
    assert_eq!(bytes(&memory), CODE);
    assert!(d.remove_all_breakpoints().is_empty(), "nothing twice");
}

#[test]
fn at_most_max_breakpoints_and_bad_removals_are_errors() {
    let (d, memory) = setup();
    let vcpu = vcpu_thread(&d, &memory, None);
    for i in 0..MAX_BREAKPOINTS as u64 {
        d.insert_breakpoint(0, 0x2000 + i).unwrap();
    }
    let err = d.insert_breakpoint(0, 0x3000).unwrap_err();
    assert_eq!((err.clone(), err.reply()), (BreakpointError::TooMany, "E22"));
    assert_eq!(d.remove_breakpoint(0x3000), Err(BreakpointError::NotSet));
    // Outside guest RAM: a memory error, nothing recorded.
    d.remove_all_breakpoints();
    let err = d.insert_breakpoint(0, 0x10_0000).unwrap_err();
    assert_eq!(err.reply(), "E14");
    assert_eq!(d.patch_at(0x10_0000), None);
    d.resume(None);
    vcpu.join().unwrap();
}

/// A VM stop after 5 s: a park that waits for a resume that never comes returns false (the
/// bug) instead of hanging the test.
fn give_up_after_5s() -> impl Fn() -> bool {
    let started = std::time::Instant::now();
    move || started.elapsed() > std::time::Duration::from_secs(5)
}

#[test]
fn a_vcpu_that_parks_after_gdb_resumed_it_runs_at_once() {
    // The vCPU saw the pause flag up, then gdb's `c` came before the vCPU took the lock in
    // park: there is no stop left to wait for (this hung `c` under load).
    let (d, memory) = setup();
    d.resume(None);
    let vcpu = FakeVcpu::default();
    assert!(d.park(0, &vcpu, &memory, &give_up_after_5s()));
    assert!(!d.is_stepping(0));
}

#[test]
fn a_kick_during_a_step_does_not_park_the_stepping_vcpu() {
    // gdb's `stepi`: the pause flag stays up (for any other vCPU), and a kick that brings the
    // stepping vCPU back to park before its step ends must not keep it there (this hung
    // `stepi` under load); the step's own end parks it as usual.
    let (d, memory) = setup();
    d.resume(Some(0));
    assert!(d.wants_pause());
    let vcpu = FakeVcpu::default();
    assert!(d.park(0, &vcpu, &memory, &give_up_after_5s()));
    assert!(d.is_stepping(0), "still the step gdb asked for");
    assert!(d.park(0, &vcpu, &memory, &give_up_after_5s()), "kicked: back to its step");
    assert_eq!(d.on_debug_exit(0, 1, 0x1001), AfterDebugExit::Park);
    // Now a stop is pending: park waits (here until the VM stops).
    let stop = std::sync::atomic::AtomicBool::new(false);
    let d2 = Arc::clone(&d);
    let waiter = std::thread::spawn(move || d2.wait_stopped(&|| false));
    let stopping = || {
        // Give up once the gdb side has seen the stop.
        waiter.is_finished() || stop.load(std::sync::atomic::Ordering::SeqCst)
    };
    assert!(!d.park(0, &vcpu, &memory, &stopping), "parked until the stop was seen");
}
