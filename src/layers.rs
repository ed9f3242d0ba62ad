//! TEMPORARY stubs while the layers are ported.
use crate::cli::Config;
use crate::error::{Ending, Fault, Off};
use crate::machine::{Boot, Layer};
use crate::memory::GuestMemory;

pub fn host_check(_f: Option<&str>) -> Result<(String, i32), Ending> {
    Err(Ending::Host("not yet".into()))
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
