//! What an OS kernel expects of a PC beyond its RAM, for the Multiboot and Linux protocols:
//! the in-kernel interrupt controllers and timer (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2: api.rst
//! 4.24, 4.67) with COM1 on IRQ 4, CPUID from what the host supports (KVM_SET_CPUID2, 4.20),
//! RAM above the 4 GiB hole, and noticing that a kernel switched itself off.
//!
//! With an in-kernel irqchip, `hlt` waits inside KVM for an interrupt; a kernel that halts with
//! interrupts off (`cli; hlt`, Linux's `poweroff -f`) never comes back. So every
//! [`HALT_CHECK`] the main thread kicks the vCPUs, and a kicked vCPU that KVM reports
//! halted (KVM_GET_MP_STATE, 4.38) with RFLAGS.IF clear ends the run: the machine is off.

use crate::devices::{IrqLine, MmioDevice};
use crate::error::{Ending, Off, Why};
use crate::kvm::cpuid::CpuidTable;
use crate::kvm::irqchip::{KVM_CAP_IRQCHIP, KVM_CAP_PIT2, KVM_MP_STATE_HALTED};
use crate::kvm::{Exit, Vcpu, Vm};
use crate::machine::{Setup, TICK};
use crate::memory::GuestMemory;
use crate::vcpu::{Control, Runner, VcpuHook};
use std::sync::{Arc, Mutex};

/// How often the vCPUs are kicked to see whether they halted for good.
pub const HALT_CHECK: std::time::Duration = std::time::Duration::from_millis(240);

// [tour:create-irqchip]
/// Step 4: the 8259 PICs, the IOAPIC, a LAPIC per vCPU and the 8254 PIT, before any vCPU
/// exists; COM1's interrupt output wired to IRQ 4. `speaker`: the PIT's channel 2 drives port
/// 0x61, as Linux probes it.
pub fn interrupt_controllers(m: &mut Setup, speaker: bool) -> Result<(), Ending> {
    for (cap, what) in
        [(KVM_CAP_IRQCHIP, "irqchip (KVM_CAP_IRQCHIP)"), (KVM_CAP_PIT2, "PIT (KVM_CAP_PIT2)")]
    {
        if m.kvm.check_extension(cap) <= 0 {
            return Err(Ending::NoKvm(format!(
                "this KVM has no in-kernel {what}, which an OS kernel needs"
            )));
        }
    }
    m.vm.create_irqchip()?;
    m.vm.create_pit2(speaker)?;
    m.bus.com1().connect_irq(Arc::new(IrqPin(Arc::clone(m.vm))));
    crate::console::note(|| {
        "in-kernel 8259 PICs, IOAPIC and LAPIC (KVM_CREATE_IRQCHIP) and 8254 PIT (KVM_CREATE_PIT2): IRQ 0 timer, IRQ 4 COM1".into()
    });
    Ok(())
}
// [/tour:create-irqchip]

/// An input pin of the in-kernel PIC and IOAPIC, driven with KVM_IRQ_LINE.
pub struct IrqPin(pub Arc<Vm>);

impl IrqLine for IrqPin {
    fn set_level(&self, irq: u32, high: bool) {
        let _ = self.0.irq_line(irq, high); // fails only without an irqchip: the guest polls
    }
}

/// Step 6: every vCPU's CPUID from KVM_GET_SUPPORTED_CPUID, as `patch` adjusts it.
pub fn cpuid(m: &Setup, vcpus: &mut [Vcpu], patch: impl Fn(&mut CpuidTable)) -> Result<(), Ending> {
    let mut table = m.kvm.get_supported_cpuid()?;
    patch(&mut table);
    vcpus.iter().try_for_each(|v| v.set_cpuid2(&mut table)).map_err(Ending::from)
}

/// Watches one vCPU of a kernel: a halt for good, and (for Linux) a triple fault, which is
/// how it resets (`reboot=t`).
pub struct KernelHook {
    pub triple_fault_resets: bool,
}

impl VcpuHook for KernelHook {
    fn after_exit(&mut self, cpu: &mut Runner, exit: &Exit, next: &mut Option<Ending>) {
        match (exit, &*next) {
            (Exit::Interrupted, None) if halted_for_good(&cpu.vcpu) => {
                *next = Some(Ending::Off(Off::HaltedForGood))
            }
            (Exit::Shutdown, Some(Ending::Fault(f)))
                if self.triple_fault_resets && f.why == Why::TripleFault =>
            {
                *next = Some(Ending::Off(Off::TripleFaultReset))
            }
            _ => {}
        }
    }
}

/// Halted in KVM with interrupts off: nothing can end that `hlt` (there is no NMI source here).
fn halted_for_good(vcpu: &Vcpu) -> bool {
    vcpu.get_mp_state().is_ok_and(|s| s == KVM_MP_STATE_HALTED)
        && vcpu.get_regs().is_ok_and(|r| r.rflags & crate::x86::RFLAGS_IF == 0)
}

/// The main thread's side: kicks every vCPU each [`HALT_CHECK`].
#[derive(Default)]
pub struct HaltCheck {
    pub vcpus: usize,
    ticks: u32,
}

impl HaltCheck {
    pub fn tick(&mut self, control: &Control) {
        self.ticks += 1;
        if self.ticks.is_multiple_of((HALT_CHECK.as_millis() / TICK.as_millis()) as u32) {
            (0..self.vcpus).for_each(|i| control.kick(i));
        }
    }
}

/// RAM above the 4 GiB hole (`--mem` over 3G) gets its memory slot at the guest's first
/// access there: a slot costs KVM time in proportion to its size (its page bookkeeping: about
/// 8 ms for 13 GiB on a KVM that shadows page tables), which a kernel that never looks above
/// 4 GiB should not pay at every start. Until then an access there is an MMIO exit, done here
/// on the very memory the slot will map.
pub struct HighRam {
    pub vm: Arc<Vm>,
    pub memory: Arc<GuestMemory>,
    pub slot: u32,
    pub gpa: u64,
    pub size: u64,
    /// The slot's error, or `Some(Ok)` once added.
    pub added: Mutex<Option<Result<(), String>>>,
}

impl HighRam {
    fn access(&self, addr: u64, len: usize, copy: impl FnOnce(&GuestMemory) -> bool) -> bool {
        let end = addr.checked_add(len as u64);
        if addr < self.gpa || end.is_none_or(|e| e > self.gpa + self.size) || !copy(&self.memory) {
            return false;
        }
        let mut added = self.added.lock().unwrap_or_else(|e| e.into_inner());
        if !added.as_ref().is_some_and(|a| a.is_ok()) {
            let result =
                self.vm.set_user_memory_region(self.slot, &self.memory, self.gpa, self.size);
            *added = Some(result.map_err(|e| e.to_string()));
        }
        true
    }
}

impl MmioDevice for HighRam {
    fn read(&self, addr: u64, data: &mut [u8]) -> bool {
        self.access(addr, data.len(), |m| m.read(addr, data).is_ok())
    }
    fn write(&self, addr: u64, data: &[u8]) -> bool {
        self.access(addr, data.len(), |m| m.write(addr, data).is_ok())
    }
}
