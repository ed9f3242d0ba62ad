//! mini-kvm's errors and the exit status each one maps to.
//!
//! Every error is printed as one line on stderr that names what failed (the file, the ioctl and
//! its errno, the device) and, where there is one, the fix. Guest faults are not errors of
//! mini-kvm: they are outcomes of a run (status 5), reported by `machine.rs`.

use crate::guests::ImageError;
use crate::kvm::KvmError;
use std::fmt;

/// Exit statuses (also in README.md and `--help`).
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

/// Why the VM as a whole stopped early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopCause {
    Fault,
    HostError,
    Timeout,
    Signal(i32),
    Quit,
    /// gdb's `kill`.
    Killed,
}

#[derive(Debug)]
pub enum Error {
    /// Bad command line (or an option this build does not support).
    Usage(String),
    /// A guest image cannot be used.
    Image(ImageError),
    /// /dev/kvm is missing, inaccessible, or lacks what mini-kvm needs.
    KvmUnavailable(String),
    /// A KVM call failed while setting up or running the VM.
    Kvm(KvmError),
    /// Anything else the host failed to do (memory, threads, terminal...).
    Host(String),
    /// A signal or `--timeout` stopped the run before the guests started (status 130/124).
    Stopped(StopCause),
}

impl Error {
    pub fn exit_status(&self) -> i32 {
        match self {
            Error::Usage(_) => status::USAGE,
            Error::Image(_) => status::BAD_IMAGE,
            Error::KvmUnavailable(_) => status::NO_KVM,
            Error::Kvm(_) | Error::Host(_) => status::HOST_FAILURE,
            Error::Stopped(StopCause::Timeout) => status::TIMEOUT,
            Error::Stopped(StopCause::Fault) => status::GUEST_FAULT,
            Error::Stopped(StopCause::HostError) => status::HOST_FAILURE,
            Error::Stopped(_) => status::INTERRUPTED,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Usage(m) | Error::KvmUnavailable(m) | Error::Host(m) => f.write_str(m),
            Error::Image(e) => write!(f, "guest image {e}"),
            Error::Kvm(e) => write!(f, "{e}"),
            Error::Stopped(cause) => write!(f, "stopped while loading: {cause:?}"),
        }
    }
}

impl From<KvmError> for Error {
    fn from(e: KvmError) -> Error {
        Error::Kvm(e)
    }
}

impl From<ImageError> for Error {
    fn from(e: ImageError) -> Error {
        Error::Image(e)
    }
}

/// Turns a failure to open or query the KVM device into the message a user can act on.
pub fn kvm_unavailable(device: &str, e: &KvmError) -> Error {
    let fix = match e.errno {
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
        libc::EISDIR => format!(
            "{device} is a directory, not the KVM device (check MINI_KVM_DEVICE, or unset it \
             for /dev/kvm)"
        ),
        _ => format!("{device} is unusable: {e}"),
    };
    Error::KvmUnavailable(fix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_maps_to_its_documented_status() {
        assert_eq!(Error::Usage("x".into()).exit_status(), 2);
        let image = ImageError {
            path: "a".into(),
            reason: "b".into(),
        };
        assert_eq!(Error::Image(image).exit_status(), 3);
        assert_eq!(Error::KvmUnavailable("x".into()).exit_status(), 4);
        let kvm = KvmError {
            ioctl: "KVM_RUN",
            errno: libc::EFAULT,
        };
        assert_eq!(Error::Kvm(kvm).exit_status(), 1);
        assert_eq!(Error::Host("x".into()).exit_status(), 1);
    }

    #[test]
    fn kvm_device_problems_name_the_device_and_the_fix() {
        let missing = KvmError {
            ioctl: "open /dev/kvm",
            errno: libc::ENOENT,
        };
        let msg = kvm_unavailable("/dev/kvm", &missing).to_string();
        assert!(msg.contains("/dev/kvm does not exist") && msg.contains("modprobe"));
        let denied = KvmError {
            ioctl: "open /dev/kvm",
            errno: libc::EACCES,
        };
        assert!(kvm_unavailable("/dev/kvm", &denied)
            .to_string()
            .contains("group kvm"));
        let not_kvm = KvmError {
            ioctl: "KVM_GET_API_VERSION",
            errno: libc::ENOTTY,
        };
        assert!(kvm_unavailable("/dev/null", &not_kvm)
            .to_string()
            .contains("/dev/null is not a KVM device"));
        let dir = KvmError {
            ioctl: "open(2)",
            errno: libc::EISDIR,
        };
        let msg = kvm_unavailable("/tmp", &dir).to_string();
        assert!(msg.contains("/tmp is a directory") && !msg.contains("/dev/kvm failed"));
    }
}
