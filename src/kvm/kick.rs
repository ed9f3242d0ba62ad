//! Kicking a vCPU out of `KVM_RUN` from another thread: `immediate_exit` plus a signal.
//!
//! api.rst section 5, `immediate_exit`: "polled once when KVM_RUN starts; if non-zero, KVM_RUN
//! exits immediately, returning -EINTR. In the common scenario where a signal is used to 'kick'
//! a VCPU out of KVM_RUN, this field can be used to avoid usage of KVM_SET_SIGNAL_MASK".
//!
//! Why both: a signal alone can arrive just *before* the vCPU thread enters KVM_RUN and be lost,
//! leaving the vCPU running forever. The flag alone does nothing to a vCPU that is already inside
//! KVM_RUN (say, spinning in `jmp $`). Together there is no gap: set the flag first, then signal.
//! A vCPU already in the guest is interrupted by the signal; one about to enter sees the flag.
//! The signal handler does nothing; its only job is to make the `ioctl` return EINTR, so it is
//! installed without SA_RESTART.

use super::vcpu::RunPage;
use super::Vcpu;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// The signal used for kicks: the first real-time signal, which nothing else here uses.
fn kick_signal() -> libc::c_int {
    libc::SIGRTMIN()
}

extern "C" fn on_kick(_signal: libc::c_int) {
    // Nothing to do: being delivered is what interrupts KVM_RUN.
}

/// Installs the do-nothing kick handler (once per process, before any vCPU thread starts).
pub fn install_kick_signal_handler() -> std::io::Result<()> {
    // SAFETY: sigaction with a zeroed struct plus an `extern "C"` handler that touches nothing is
    // async-signal-safe; the pointers passed live across the call.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_kick as extern "C" fn(libc::c_int) as libc::sighandler_t;
        action.sa_flags = 0; // no SA_RESTART: KVM_RUN must return EINTR
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(kick_signal(), &action, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// What another thread needs to kick one running vCPU thread.
pub struct VcpuKick {
    run: Arc<RunPage>,
    thread: libc::pthread_t,
}

impl VcpuKick {
    /// Called on the vCPU's own thread: remembers that thread as the one to signal.
    pub fn for_current_thread(vcpu: &Vcpu) -> VcpuKick {
        VcpuKick {
            run: Arc::clone(vcpu.run_page()),
            // SAFETY: pthread_self has no preconditions.
            thread: unsafe { libc::pthread_self() },
        }
    }

    /// Sets `immediate_exit`, then signals the thread.
    ///
    /// The caller must make sure the thread is still running (mini-kvm keeps kick handles in a
    /// registry that a vCPU thread leaves, under the same lock, before it ends).
    // [tour:kick]
    pub fn kick(&self) {
        self.run.immediate_exit().store(1, Ordering::SeqCst);
        // SAFETY: the thread is alive (see above), so the pthread_t is valid; the handler is
        // installed process-wide before vCPU threads start.
        unsafe {
            libc::pthread_kill(self.thread, kick_signal());
        }
    }
    // [/tour:kick]
}
