//! Does this KVM start an application processor? Two vCPUs of a VM of their own run the `ap`
//! probe (guests/probes/ap.asm): vCPU 0 sends vCPU 1 INIT and STARTUP IPIs through its local
//! APIC and exits; vCPU 1 must come to life at the STARTUP vector's page and say so with
//! EXIT_STATUS 0xA9. A KVM that accepts the IPIs but never starts the vCPU is found out here,
//! not by a guest that hangs.

use crate::boot::realmode::RealMode;
use crate::guests::{Image, PROBES};
use crate::hostcheck::run_probe;
use crate::kvm::{Kvm, Vcpu};
use crate::machine::{Boot, TSS_ADDR};
use crate::memory::GuestMemory;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

/// What vCPU 1 answers once started.
const STARTED: u8 = 0xA9;
/// Far more than the 10-15 ms an AP takes to start on either kind of KVM.
const LIMIT: Duration = Duration::from_secs(2);

/// `Ok` if vCPU 1 starts; `Err` with what happened instead.
pub fn ap_starts(kvm: &Kvm) -> Result<(), String> {
    let (_, bytes) = PROBES.iter().find(|(n, _)| *n == "ap").ok_or("no ap probe")?;
    let image = Image { name: "ap".into(), path: None, bytes: Cow::Borrowed(*bytes) };
    let boot = RealMode::new(vec![image]).map_err(|e| e.to_string())?;
    let vm = Arc::new(kvm.create_vm().map_err(|e| e.to_string())?);
    let layout = boot.layout();
    let memory = Arc::new(GuestMemory::new(layout.ram).map_err(|e| e.to_string())?);
    let setup = || -> Result<[Vcpu; 2], crate::error::Ending> {
        vm.set_tss_addr(TSS_ADDR)?;
        vm.set_user_memory_region(0, &memory, 0, layout.ram)?;
        let mut boot = boot;
        boot.load(&memory)?;
        vm.create_irqchip()?;
        let vcpus = [vm.create_vcpu(0)?, vm.create_vcpu(1)?];
        boot.start(0, &vcpus[0])?;
        super::wire_lapics(&vcpus, true)?;
        Ok(vcpus)
    };
    let [mut bsp, mut ap] = setup().map_err(|e| e.to_string())?;
    let started = std::thread::scope(|s| {
        let ap = s.spawn(move || run_probe(&mut ap, LIMIT, |_, _| None));
        let bsp = run_probe(&mut bsp, LIMIT, |_, _| None);
        (bsp, ap.join().unwrap_or_else(|_| Err("the probe thread panicked".into())))
    });
    match started {
        (Ok(0), Ok(STARTED)) => Ok(()),
        (Ok(0), Ok(other)) => Err(format!("vCPU 1 ended with status {other:#x}")),
        (Ok(0), Err(why)) => Err(format!("vCPU 1: {why}")),
        (bsp, _) => Err(format!("vCPU 0 did not send the IPIs: {bsp:?}")),
    }
}
