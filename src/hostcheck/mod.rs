//! TEMPORARY: to be ported.
use crate::kvm::Kvm;
pub fn linux_boot_possible(_kvm: &Kvm) -> Result<(), String> {
    Ok(())
}
