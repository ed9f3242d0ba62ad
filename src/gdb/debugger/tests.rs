//! Unit tests for debugger.rs (kept apart so the module reads on its own).
use super::*;
use std::sync::Arc;

#[test]
fn a_step_resumes_one_vcpu_and_keeps_the_rest_paused() {
    let d = Debugger::new(2, BreakpointMethod::SingleStep);
    assert!(d.wants_pause(), "gdb gets control before the first instruction");
    d.resume(Some(1));
    {
        let s = d.lock();
        assert_eq!(s.resume, vec![Resume::Stay, Resume::Step]);
        assert_eq!(s.stop, None);
    }
    assert!(d.wants_pause());
    d.resume(None);
    assert!(!d.wants_pause());
    assert_eq!(d.lock().resume, vec![Resume::Continue, Resume::Continue]);
}

#[test]
fn debug_exits_stop_only_at_breakpoints_or_steps() {
    let d = Debugger::new(1, BreakpointMethod::SingleStep);
    d.resume(None);
    d.insert_breakpoint(0, 0x1000).unwrap();
    assert_eq!(d.on_debug_exit(0, 1, 0x0FFE), AfterDebugExit::Run);
    assert!(!d.wants_pause());
    assert_eq!(d.on_debug_exit(0, 1, 0x1000), AfterDebugExit::Park);
    assert!(d.wants_pause());
    assert_eq!(d.lock().stop, Some(StopReason::Breakpoint(0)));
    assert_eq!(d.remove_breakpoint(0x1000), Ok(()));
    assert_eq!(d.remove_breakpoint(0x1000), Err(BreakpointError::NotSet));
}

#[test]
fn requests_reach_a_parked_vcpu_and_stopped_is_reported() {
    let d = Arc::new(Debugger::new(1, BreakpointMethod::SingleStep));
    assert!(!d.is_stopped(), "nobody parked yet");
    assert!(matches!(d.request(5, Request::GetRegisters), Reply::Failed(_)));
    // Simulate a parked vCPU thread answering one request.
    {
        let mut s = d.lock();
        s.parked[0] = true;
    }
    assert!(d.is_stopped());
    let d2 = Arc::clone(&d);
    let server = std::thread::spawn(move || loop {
        let mut s = d2.lock();
        if let Some(_req) = s.requests[0].take() {
            s.replies[0] = Some(Reply::Done);
            d2.changed.notify_all();
            return;
        }
        drop(s);
        std::thread::sleep(Duration::from_millis(1));
    });
    assert!(matches!(d.request(0, Request::GetRegisters), Reply::Done));
    server.join().unwrap();
    assert_eq!(d.wait_stopped(&|| false), Some(StopReason::Initial));
    d.vcpu_ended(0, Ended::Exit(0));
    assert_eq!(d.wait_stopped(&|| false), None);
}
