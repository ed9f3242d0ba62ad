//! TEMPORARY: to be ported.
use crate::kvm::Kvm;
pub fn linux_boot_possible(_kvm: &Kvm) -> Result<(), String> {
    Ok(())
}
pub fn io_rip_rule() -> crate::exit_address::IoRipRule {
    crate::exit_address::IoRipRule::AT_INSTRUCTION
}
