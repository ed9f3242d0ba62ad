//! How a run ends, in one type: [`Ending`], and the exit status each ending gives
//! (docs/reference.md, "Exit status"). A vCPU's loop ends with one, a setup step that fails
//! returns one, and `main` prints it in one line and exits with its status.

use crate::kvm::bindings::{kvm_regs, kvm_sregs};
use crate::kvm::{Exit, KvmError};

/// Exit statuses (docs/reference.md, "Exit status").
pub mod status {
    pub const OK: i32 = 0;
    pub const HOST_FAILURE: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const BAD_IMAGE: i32 = 3;
    pub const NO_KVM: i32 = 4;
    pub const GUEST_FAULT: i32 = 5;
    pub const TIMEOUT: i32 = 124;
    pub const INTERRUPTED: i32 = 130;
}

/// How a vCPU, a setup step or a whole run ended.
#[derive(Debug)]
pub enum Ending {
    /// EXIT, or `hlt` with nothing to wake the vCPU: status 0.
    Halted,
    /// EXIT_STATUS: the guest's own status.
    Exit(u8),
    /// The guest switched the machine off or reset it (mini-kvm does not reboot): status 0.
    Off(Off),
    /// Something the guest did that neither the CPU nor mini-kvm can go on from: status 5.
    Fault(Fault),
    /// The host failed (an ioctl, a write, a thread): status 1.
    Host(String),
    /// The command line is wrong: status 2.
    Usage(String),
    /// A guest image cannot be used: status 3.
    Image { path: String, reason: String },
    /// No usable KVM, or one that cannot run what was asked: status 4.
    NoKvm(String),
    /// Stopped from outside: `--timeout` (124), a signal, Ctrl-A x or gdb's kill (130).
    Stopped(Stop),
}

/// Why the machine is off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Off {
    /// 0xFE to the i8042 keyboard controller's command port: the CPU's reset line.
    I8042Reset,
    /// KVM_EXIT_SHUTDOWN from a kernel that resets this way (Linux's `reboot=t`).
    TripleFaultReset,
    /// KVM_SYSTEM_EVENT_RESET.
    SystemReset,
    /// `cli; hlt` with an in-kernel irqchip: nothing can ever wake the vCPU.
    HaltedForGood,
}

/// A guest fault: what happened and, when known, where (the registers at the exit).
#[derive(Debug)]
pub struct Fault {
    pub why: Why,
    /// The registers when it happened, read at the exit.
    pub at: Option<Box<(kvm_regs, kvm_sregs)>>,
    /// The exit that ended the vCPU (boxed: an exit is large, and an `Ending` travels in
    /// every `Result` of a run).
    pub exit: Option<Box<Exit>>,
}

/// The kinds of guest fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Why {
    UnknownHypercall(u8),
    TripleFault,
    FailEntry { reason: u64, cpu: u32 },
    Internal { suberror: u32, data: Vec<u64> },
    Crash,
    Debug { exception: u32, pc: u64 },
    Unexpected(&'static str),
}

/// What stopped a run from outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    Timeout(std::time::Duration),
    Signal(i32),
    Quit,
    Killed,
}

impl Ending {
    pub fn status(&self) -> i32 {
        match self {
            Ending::Halted | Ending::Off(_) => status::OK,
            Ending::Exit(n) => i32::from(*n),
            Ending::Fault(_) => status::GUEST_FAULT,
            Ending::Host(_) => status::HOST_FAILURE,
            Ending::Usage(_) => status::USAGE,
            Ending::Image { .. } => status::BAD_IMAGE,
            Ending::NoKvm(_) => status::NO_KVM,
            Ending::Stopped(Stop::Timeout(_)) => status::TIMEOUT,
            Ending::Stopped(_) => status::INTERRUPTED,
        }
    }

    /// A guest fault of kind `why`, with no registers yet (the run loop adds them).
    pub fn fault(why: Why) -> Ending {
        Ending::Fault(Fault { why, at: None, exit: None })
    }

    /// An ending that stops the whole run, not just its vCPU.
    pub fn stops_the_run(&self) -> bool {
        !matches!(self, Ending::Halted | Ending::Exit(_))
    }
}

impl From<KvmError> for Ending {
    fn from(e: KvmError) -> Ending {
        Ending::Host(e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_ending_maps_to_its_documented_status() {
        assert_eq!(Ending::Halted.status(), 0);
        assert_eq!(Ending::Off(Off::I8042Reset).status(), 0);
        assert_eq!(Ending::Exit(7).status(), 7);
        assert_eq!(Ending::fault(Why::TripleFault).status(), 5);
        assert_eq!(Ending::Host("x".into()).status(), 1);
        assert_eq!(Ending::Usage("x".into()).status(), 2);
        assert_eq!(Ending::Image { path: "a".into(), reason: "b".into() }.status(), 3);
        assert_eq!(Ending::NoKvm("x".into()).status(), 4);
        assert_eq!(Ending::Stopped(Stop::Timeout(std::time::Duration::ZERO)).status(), 124);
        assert_eq!(Ending::Stopped(Stop::Quit).status(), 130);
        assert!(!Ending::Exit(3).stops_the_run() && Ending::Off(Off::SystemReset).stops_the_run());
    }
}
