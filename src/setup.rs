//! Setting a VM up, one named step at a time, in the order KVM requires.
//!
//! api.rst section 3 ("General description") and 4 give the order every VMM follows, and
//! kvm-hello-world shows it in one screen of C. Here each step is a short function, shared by
//! `machine` (the real run) and `hostcheck` (its probe VMs), so both build a VM the same way:
//!
//! 1. [`open_kvm`]: open /dev/kvm, check KVM_GET_API_VERSION and the capabilities relied on;
//! 2. [`create_vm`]: KVM_CREATE_VM, and KVM_SET_TSS_ADDR (Intel VMX needs it for real mode);
//! 3. [`add_memory`]: one mmap of guest RAM, KVM_SET_USER_MEMORY_REGION per slot;
//! 4. [`create_irqchip`]: the in-kernel PIC/IOAPIC/LAPIC and PIT, before any vCPU exists;
//! 5. load the guest into RAM (`boot::Plan::load`, which returns its [`Start`] state);
//! 6. [`create_vcpu`]: KVM_CREATE_VCPU, KVM_SET_CPUID2, the first KVM_SET_SREGS/KVM_SET_REGS;
//! 7. run each vCPU in its thread (`vcpu.rs`) and wait (`machine/wait.rs`).

use crate::boot::{paging32, Layout, Start};
use crate::error::{kvm_unavailable, Error};
use crate::kvm::bindings::*;
use crate::kvm::{Kvm, Vcpu, Vm};
use crate::log::note;
use crate::memory::GuestMemory;
use crate::x86::CR0_PG;
use std::sync::Arc;

/// Where KVM may put the three pages Intel VMX needs for real mode (KVM_SET_TSS_ADDR): just
/// below 4 GiB, where no guest RAM of ours ever is. (The seed used 0x200000, inside the RAM of
/// larger guests.)
pub const TSS_ADDR: u64 = 0xFFFB_D000;

/// Capabilities every run needs, with what each is for.
const REQUIRED_CAPS: &[(u32, &str)] = &[
    (
        KVM_CAP_USER_MEMORY,
        "KVM_CAP_USER_MEMORY (guest RAM from our mmap)",
    ),
    (
        KVM_CAP_SET_TSS_ADDR,
        "KVM_CAP_SET_TSS_ADDR (real mode on Intel)",
    ),
    (
        KVM_CAP_IMMEDIATE_EXIT,
        "KVM_CAP_IMMEDIATE_EXIT (stopping vCPUs without races)",
    ),
    (
        KVM_CAP_EXT_CPUID,
        "KVM_CAP_EXT_CPUID (KVM_GET_SUPPORTED_CPUID)",
    ),
];

/// Step 1. Opens the KVM device (`MINI_KVM_DEVICE`, else /dev/kvm) and checks the API version
/// and the capabilities mini-kvm relies on, naming each one missing.
pub fn open_kvm() -> Result<Kvm, Error> {
    let device = std::env::var("MINI_KVM_DEVICE").unwrap_or_else(|_| "/dev/kvm".to_string());
    let kvm = Kvm::open(&device).map_err(|e| kvm_unavailable(&device, &e))?;
    let version = kvm
        .api_version()
        .map_err(|e| kvm_unavailable(&device, &e))?;
    if version != KVM_API_VERSION {
        return Err(Error::KvmUnavailable(format!(
            "{device} speaks KVM API version {version}; mini-kvm needs {KVM_API_VERSION}"
        )));
    }
    let missing: Vec<&str> = REQUIRED_CAPS
        .iter()
        .filter(|(cap, _)| kvm.check_extension(*cap).unwrap_or(0) <= 0)
        .map(|(_, name)| *name)
        .collect();
    if !missing.is_empty() {
        return Err(Error::KvmUnavailable(format!(
            "{device} lacks {}: mini-kvm needs a KVM from Linux 4.11 or later",
            missing.join(", ")
        )));
    }
    note(|| format!("opened {device}: KVM API version {version}"));
    Ok(kvm)
}

/// Step 2. A new VM, with the real-mode TSS pages placed out of the way of guest RAM.
pub fn create_vm(kvm: &Kvm) -> Result<Vm, Error> {
    let vm = kvm.create_vm()?;
    vm.set_tss_addr(TSS_ADDR)?;
    Ok(vm)
}

/// Step 3. Guest RAM as `layout` asks: one mapping, `guests` slots of `layout.slot_size` from
/// guest-physical 0 (RAM above 4 GiB gets its slot later, at first touch: devices/mod.rs).
pub fn add_memory(vm: &mut Vm, layout: &Layout, guests: usize) -> Result<Arc<GuestMemory>, Error> {
    let memory = Arc::new(GuestMemory::new(layout.ram).map_err(|e| Error::Host(e.to_string()))?);
    for i in 0..guests {
        let base = i as u64 * layout.slot_size;
        vm.set_user_memory_region(i as u32, &memory, base, layout.slot_size)?;
    }
    note(|| {
        let mut text = format!(
            "guest RAM: {} KiB at guest-physical 0, {guests} memory slot(s) of {} KiB",
            guests as u64 * layout.slot_size / 1024,
            layout.slot_size / 1024
        );
        if layout.high > 0 {
            text.push_str(&format!(
                ", and {} KiB at 4 GiB (past the hole), a slot added at the guest's first \
                 access there",
                layout.high / 1024
            ));
        }
        text
    });
    Ok(memory)
}

/// Step 4. The in-kernel interrupt controllers (8259 PICs, IOAPIC, a LAPIC per vCPU) and the
/// 8254 PIT, which an OS kernel expects. `speaker`: let the PIT's channel 2 drive port 0x61,
/// as Linux probes it.
// [tour:create-irqchip]
pub fn create_irqchip(kvm: &Kvm, vm: &Vm, speaker: bool) -> Result<(), Error> {
    for (cap, what) in [
        (KVM_CAP_IRQCHIP, "irqchip (KVM_CAP_IRQCHIP)"),
        (KVM_CAP_PIT2, "PIT (KVM_CAP_PIT2)"),
    ] {
        if kvm.check_extension(cap).unwrap_or(0) <= 0 {
            return Err(Error::KvmUnavailable(format!(
                "this KVM has no in-kernel {what}, which an OS kernel needs"
            )));
        }
    }
    vm.create_irqchip()?;
    vm.create_pit2(speaker)?;
    note(|| {
        "in-kernel 8259 PICs, IOAPIC and LAPIC (KVM_CREATE_IRQCHIP) and 8254 PIT \
         (KVM_CREATE_PIT2): IRQ 0 timer, IRQ 4 COM1"
            .into()
    });
    Ok(())
}
// [/tour:create-irqchip]

/// Step 6. vCPU `id` in the state `start` describes: CPUID (when given: real-mode guests never
/// ask, and KVM_GET_SUPPORTED_CPUID costs time), special registers, then general ones.
// [tour:create-vcpu]
pub fn create_vcpu(
    vm: &Arc<Vm>,
    id: u32,
    cpuid: Option<&CpuidTable>,
    start: &Start,
) -> Result<Vcpu, Error> {
    let vcpu = vm.create_vcpu(id)?;
    if let Some(cpuid) = cpuid {
        vcpu.set_cpuid2(cpuid)?;
    }
    let mut sregs = vcpu.get_sregs()?;
    start.set_sregs(&mut sregs);
    vcpu.set_sregs(&sregs)?;
    if let Start::Paging32 { .. } = start {
        // A KVM that cannot run 32-bit paged guests drops CR0.PG without an error.
        let cr0 = vcpu.get_sregs()?.cr0;
        if cr0 & CR0_PG == 0 {
            return Err(Error::KvmUnavailable(paging32::unsupported_here(cr0)));
        }
    }
    vcpu.set_regs(&start.regs())?;
    Ok(vcpu)
}
// [/tour:create-vcpu]
