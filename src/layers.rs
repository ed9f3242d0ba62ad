//! TEMPORARY stubs while the layers are ported.
use crate::cli::Config;
use crate::error::{Ending, Fault, Off};
use crate::machine::{Boot, Layer};
use crate::memory::GuestMemory;

/// The seccomp layer's `allowed_calls()` (how many system calls its filter allows; None: no
/// seccomp in this kernel), for `--host-check`: 41, the count of the allow-list as it is on
/// main, until that layer is ported.
pub fn seccomp_allowed_calls() -> Option<usize> {
    Some(41)
}
pub fn install(_c: &Config, _b: &dyn Boot) -> Result<Vec<Box<dyn Layer>>, Ending> {
    Ok(Vec::new())
}
pub fn fault_report(who: &str, fault: &Fault, _m: &GuestMemory, _v: bool) {
    crate::console::message(&format!("mini-kvm: guest fault on {who}: {:?}", fault.why));
}
pub fn off_text(o: Off) -> String {
    format!("{o:?}")
}
