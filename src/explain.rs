//! Endings in words: the message for each way a run can end, with the fix where there is one,
//! and what each kind of guest fault means. Nothing here runs unless something goes wrong.
//!
//! References: api.rst section 5 (KVM_EXIT_SHUTDOWN, KVM_EXIT_FAIL_ENTRY,
//! KVM_EXIT_INTERNAL_ERROR and its suberrors), Intel SDM Vol. 3A 6.15 (exceptions) and 9.1.1
//! (the state after RESET).

use crate::error::{Ending, Off, Stop, Why};
use crate::kvm::KvmError;
use std::fmt;

impl fmt::Display for Why {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Why::UnknownHypercall(n) => write!(
                f,
                "unknown hypercall number {n:#04x} (AL) on port 0x500; known: 0 EXIT, \
                 1 PUTCHAR, 2 GETCHAR, 3 EXIT_STATUS"
            ),
            Why::TripleFault => f.write_str(
                "KVM_EXIT_SHUTDOWN: the guest triple-faulted (an exception it could not handle)",
            ),
            Why::FailEntry { reason, cpu } => write!(
                f,
                "KVM_EXIT_FAIL_ENTRY: the CPU refused to enter the guest (hardware reason \
                 {reason:#x}, host cpu {cpu}): invalid guest state"
            ),
            Why::Internal { suberror, data } => {
                let what = match suberror {
                    1 => "emulation failure: KVM could not emulate the guest's instruction",
                    2 => "an exception occurred while delivering another one",
                    3 => "an event could not be delivered to the guest",
                    4 => "the hardware exited for a reason KVM did not expect",
                    _ => "an internal KVM error",
                };
                write!(f, "KVM_EXIT_INTERNAL_ERROR (suberror {suberror}): {what}")?;
                let words: Vec<String> = data.iter().map(|d| format!("{d:#x}")).collect();
                match words.is_empty() {
                    true => Ok(()),
                    false => write!(f, " [data {}]", words.join(" ")),
                }
            }
            Why::Crash => f.write_str("KVM_EXIT_SYSTEM_EVENT: the guest reported a crash"),
            Why::Debug { exception, pc } => {
                write!(
                    f,
                    "KVM_EXIT_DEBUG (exception {exception}) at {pc:#x} with no debugger attached"
                )
            }
            Why::Unexpected(what) => f.write_str(what),
        }
    }
}

impl fmt::Display for Off {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Off::I8042Reset => "the guest reset the machine through the keyboard controller (0xFE to port 0x64)",
            Off::TripleFaultReset => "the guest reset the machine by a triple fault (KVM_EXIT_SHUTDOWN; Linux's reboot=t)",
            Off::SystemReset => "the guest reset the machine (KVM_SYSTEM_EVENT_RESET)",
            Off::HaltedForGood => {
                "the guest halted with interrupts off (cli; hlt: KVM_MP_STATE_HALTED, RFLAGS.IF \
                 clear), which nothing here can wake: the machine is off"
            }
        })
    }
}
impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Stop::Timeout(t) => {
                let secs = t.as_secs_f64();
                write!(f, "timeout: stopped the guest after {secs} s (--timeout)")
            }
            Stop::Signal(s) => {
                let name =
                    nix::sys::signal::Signal::try_from(*s).map_or("a signal", |s| s.as_str());
                write!(f, "stopped by {name}")
            }
            Stop::Quit => f.write_str("stopped by Ctrl-A x"),
            Stop::Killed => f.write_str("stopped by gdb (kill)"),
        }
    }
}

/// The message `main` prints for an ending that is not a guest's own (faults are printed with
/// their vCPU by the machine).
impl fmt::Display for Ending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Ending::Halted | Ending::Exit(_) => Ok(()),
            Ending::Off(off) => write!(f, "{off}"),
            Ending::Fault(fault) => write!(f, "{}", fault.why),
            Ending::Host(m) | Ending::NoKvm(m) => write!(f, "error: {m}"),
            Ending::Usage(m) => f.write_str(m),
            Ending::Image { path, reason } => write!(f, "error: guest image {path}: {reason}"),
            Ending::Stopped(stop) => write!(f, "{stop}"),
        }
    }
}

/// /dev/kvm (or `MINI_KVM_DEVICE`) cannot be used: what is wrong, and the fix.
pub fn no_kvm(device: &str, e: &KvmError) -> Ending {
    let env = "(MINI_KVM_DEVICE names it; unset it for /dev/kvm)";
    let custom = device != "/dev/kvm";
    Ending::NoKvm(match e.errno {
        libc::ENOENT if custom => format!("{device} does not exist {env}"),
        libc::ENOENT => format!(
            "{device} does not exist: load the KVM module (modprobe kvm_intel or kvm_amd) and \
             make sure virtualization is enabled in the firmware or the VM's settings"
        ),
        libc::EACCES | libc::EPERM => format!(
            "{device}: permission denied: add your user to group kvm \
             (sudo usermod -aG kvm $USER, then log in again) or run as root"
        ),
        libc::ENOTTY | libc::EINVAL => {
            format!("{device} is not a KVM device ({} refused)", e.ioctl)
        }
        libc::EISDIR => format!("{device} is a directory, not the KVM device {env}"),
        _ => format!("{device} is unusable: {e}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endings_say_what_ended_them() {
        let image = Ending::Image { path: "a".into(), reason: "b".into() };
        assert_eq!(image.to_string(), "error: guest image a: b");
        let timeout = Stop::Timeout(std::time::Duration::from_millis(1500));
        assert_eq!(
            Ending::Stopped(timeout).to_string(),
            "timeout: stopped the guest after 1.5 s (--timeout)"
        );
    }

    #[test]
    fn kvm_device_problems_name_the_device_and_the_fix() {
        let e = |errno| KvmError { ioctl: "open(2)", errno };
        let msg = no_kvm("/dev/kvm", &e(libc::ENOENT)).to_string();
        assert!(msg.contains("/dev/kvm does not exist") && msg.contains("modprobe"));
        let msg = no_kvm("/tmp/nope", &e(libc::ENOENT)).to_string();
        assert!(
            msg.contains("/tmp/nope does not exist (MINI_KVM_DEVICE") && !msg.contains("modprobe")
        );
        assert!(no_kvm("/dev/kvm", &e(libc::EACCES)).to_string().contains("group kvm"));
        let not_kvm = KvmError { ioctl: "KVM_GET_API_VERSION", errno: libc::ENOTTY };
        assert!(no_kvm("/dev/null", &not_kvm)
            .to_string()
            .contains("/dev/null is not a KVM device"));
        assert!(no_kvm("/tmp", &e(libc::EISDIR)).to_string().contains("/tmp is a directory"));
    }

    #[test]
    fn internal_errors_show_their_words() {
        let why = Why::Internal { suberror: 1, data: vec![0x10, 0x2] };
        assert_eq!(
            why.to_string(),
            "KVM_EXIT_INTERNAL_ERROR (suberror 1): emulation failure: KVM could not emulate the \
             guest's instruction [data 0x10 0x2]"
        );
    }
}
