//! Several CPUs for one kernel (`--cpus N`): N vCPUs of one VM, one console, and what a PC's
//! firmware leaves for an SMP operating system to find its CPUs by.
//!
//! KVM does the hard part in the kernel. With an in-kernel irqchip every vCPU but vCPU 0 is
//! created waiting (KVM_MP_STATE_UNINITIALIZED, api.rst 4.38): its thread sits in KVM_RUN
//! until the boot CPU's local APIC sends it INIT and then STARTUP IPIs (Intel SDM Vol. 3A
//! 8.4.4, the MultiProcessor Specification's appendix B.4), whose vector says where it starts,
//! in real mode. mini-kvm's part, as kvmtool's and Firecracker's:
//!
//! * each vCPU's local APIC is set once all exist (KVM_SET_LAPIC, kvm/lapic.rs): LINT0 ExtINT,
//!   LINT1 NMI, as firmware leaves them, and without which KVM routes no IPI at all;
//! * each vCPU's CPUID says its APIC ID (boot/kernel.rs, for every kernel), matching the MP
//!   table ([`mptable`]), which goes, with the BIOS data area's words that lead to it, into
//!   low memory, whenever `--cpus` is given (`--cpus 1` too: one processor entry); a kernel
//!   run without `--cpus` gets neither, as before this layer, and costs nothing here;
//! * the run ends as a one-CPU kernel run does (boot/kernel.rs: EXIT from any CPU, a reset,
//!   or every CPU halted with interrupts off, or never started).
//!
//! Before the VM is built, a probe ([`probe`]) checks that this KVM really starts an
//! application processor; where it cannot, `--cpus` above 1 is refused (status 4).

pub mod mptable;
mod probe;

pub use probe::ap_starts;

use crate::cli::Config;
use crate::error::Ending;
use crate::kvm::lapic::{APIC_LVT_LINT0, APIC_LVT_LINT1, APIC_LVT_MASKED};
use crate::kvm::lapic::{APIC_MODE_EXTINT, APIC_MODE_NMI};
use crate::kvm::Vcpu;
use crate::memory::GuestMemory;

/// The most vCPUs `--cpus` gives a kernel.
pub const MAX_CPUS: usize = 8;

/// `--cpus N` (1 when not given), checked.
pub fn count(config: &Config) -> Result<usize, Ending> {
    let Some(text) = config.value("--cpus") else { return Ok(1) };
    match text.parse::<usize>() {
        Ok(n @ 1..=MAX_CPUS) => Ok(n),
        _ => Err(Ending::Usage(format!("--cpus takes 1 to {MAX_CPUS} CPUs, not '{text}'"))),
    }
}

/// Before the VM is built: this KVM must start an application processor when asked to, and
/// allow `cpus` vCPUs in a VM.
pub fn check_host(cpus: usize) -> Result<(), Ending> {
    if cpus == 1 {
        return Ok(());
    }
    let kvm = crate::machine::open_kvm()?;
    let max = kvm.check_extension(KVM_CAP_MAX_VCPUS);
    if max > 0 && cpus > max as usize {
        return Err(Ending::NoKvm(format!(
            "--cpus {cpus}: this KVM allows at most {max} vCPUs in a VM"
        )));
    }
    probe::ap_starts(&kvm).map_err(|why| {
        Ending::NoKvm(format!("--cpus {cpus}: this KVM does not start a second vCPU ({why}); mini-kvm --host-check shows it; run with --cpus 1"))
    })
}

/// KVM_CAP_MAX_VCPUS (api.rst 4.4): the most vCPUs one VM may have.
pub const KVM_CAP_MAX_VCPUS: u32 = 66;

/// Step 5: the BIOS data area's words and the MP table they lead to, in the EBDA.
pub fn write_tables(memory: &GuestMemory, cpus: usize) -> Result<(), Ending> {
    let write = |at: u64, bytes: &[u8]| {
        memory.write(at, bytes).map_err(|e| Ending::Host(format!("writing the MP table: {e}")))
    };
    for (at, word) in mptable::BDA_WORDS {
        write(at, &word.to_le_bytes())?;
    }
    write(mptable::EBDA, &mptable::build(cpus as u8)) // cpus <= MAX_CPUS
}

/// Step 6: every vCPU's local APIC as firmware leaves it (LINT0 ExtINT, LINT1 NMI), set with
/// KVM_SET_LAPIC once every vCPU exists, which also makes KVM map the APIC IDs to vCPUs.
/// `pic`: the 8259s' output reaches LINT0; without (a machine whose ACPI tables say it has no
/// 8259s: boot/linux/firmware.rs), LINT0 is masked.
pub fn wire_lapics(vcpus: &[Vcpu], pic: bool) -> Result<(), Ending> {
    let lint0 = if pic { APIC_MODE_EXTINT } else { APIC_MODE_EXTINT | APIC_LVT_MASKED };
    for vcpu in vcpus {
        let mut lapic = vcpu.get_lapic()?;
        lapic.set(APIC_LVT_LINT0, lint0);
        lapic.set(APIC_LVT_LINT1, APIC_MODE_NMI);
        vcpu.set_lapic(&lapic)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
