//! What an OS kernel expects of a PC beyond its RAM, for the Multiboot and Linux protocols:
//! the in-kernel interrupt controllers and timer (KVM_CREATE_IRQCHIP, KVM_CREATE_PIT2: api.rst
//! 4.24, 4.67) with COM1 on IRQ 4, CPUID from what the host supports (KVM_SET_CPUID2, 4.20),
//! RAM above the 4 GiB hole, and noticing that a kernel switched itself off.
//!
//! With an in-kernel irqchip, `hlt` waits inside KVM for an interrupt; a kernel that halts with
//! interrupts off (`cli; hlt`, Linux's `poweroff -f`) never comes back. So every
//! [`HALT_CHECK`] the main thread kicks the vCPUs, and each kicked vCPU asks KVM whether it is
//! *parked*: halted (KVM_GET_MP_STATE, 4.38) with RFLAGS.IF clear, or an application processor
//! never started. One CPU parked ends the run: the machine is off. Of several CPUs, any one
//! could still wake another with an IPI: the run ends when every CPU was parked at two checks
//! in a row ([`Parked`]).

use crate::devices::{IrqLine, MmioDevice};
use crate::error::{Ending, Off, Why};
use crate::kvm::cpuid::{CpuidTable, KVM_MAX_CPUID_ENTRIES};
use crate::kvm::irqchip::{KVM_CAP_IRQCHIP, KVM_CAP_PIT2};
use crate::kvm::irqchip::{KVM_MP_STATE_HALTED, KVM_MP_STATE_UNINITIALIZED};
use crate::kvm::{Exit, Vcpu, Vm};
use crate::machine::{Setup, TICK};
use crate::memory::GuestMemory;
use crate::vcpu::{Control, Runner, VcpuHook};
use crate::x86::RFLAGS_IF;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
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

/// Step 6: every vCPU's CPUID from KVM_GET_SUPPORTED_CPUID, as `patch` adjusts it, each with
/// its own APIC ID (smp/mod.rs).
pub fn cpuid(m: &Setup, vcpus: &mut [Vcpu], patch: impl Fn(&mut CpuidTable)) -> Result<(), Ending> {
    let mut table = m.kvm.get_supported_cpuid()?;
    patch(&mut table);
    for (index, vcpu) in vcpus.iter().enumerate() {
        set_apic_id(&mut table, index);
        vcpu.set_cpuid2(&mut table)?;
    }
    Ok(())
}

/// vCPU `index`'s CPUID: its APIC ID where the leaves KVM reports carry one (leaf 1 EBX bits
/// 31-24, leaf 0xB and 0x1F EDX, AMD's leaf 0x8000001E EAX), as the MP table numbers the CPUs.
pub fn set_apic_id(table: &mut CpuidTable, index: usize) {
    let id = index as u32;
    let n = (table.header.nent as usize).min(KVM_MAX_CPUID_ENTRIES);
    for e in table.entries[..n].iter_mut() {
        match e.function {
            1 => e.ebx = (e.ebx & 0x00FF_FFFF) | id << 24,
            0xB | 0x1F => e.edx = id,
            0x8000_001E => e.eax = id,
            _ => {}
        }
    }
}

/// Step 6 with several CPUs: their local APICs, which makes KVM route IPIs between them
/// (smp/mod.rs). One CPU keeps the LAPIC as KVM resets it.
pub fn wire_cpus(vcpus: &[Vcpu]) -> Result<(), Ending> {
    match vcpus.len() {
        1 => Ok(()),
        _ => crate::smp::wire_lapics(vcpus, true),
    }
}

/// Watches one vCPU of a kernel: parked for good, and (for Linux) a triple fault, which is
/// how it resets (`reboot=t`).
pub struct KernelHook {
    pub triple_fault_resets: bool,
    pub index: usize,
    pub parked: Arc<Parked>,
}

impl VcpuHook for KernelHook {
    fn after_exit(&mut self, cpu: &mut Runner, exit: &Exit, next: &mut Option<Ending>) {
        match (exit, &*next) {
            (Exit::Interrupted, None) if self.parked.off.load(Ordering::SeqCst) => {
                *next = Some(Ending::Off(Off::HaltedForGood))
            }
            (Exit::Interrupted, None) if parked(&cpu.vcpu) => match self.parked.seen.len() {
                1 => *next = Some(Ending::Off(Off::HaltedForGood)), // no other CPU to wake it
                _ => self.parked.seen[self.index].store(self.parked.round(), Ordering::SeqCst),
            },
            (Exit::Shutdown, Some(Ending::Fault(f)))
                if self.triple_fault_resets && f.why == Why::TripleFault =>
            {
                *next = Some(Ending::Off(Off::TripleFaultReset))
            }
            _ => {}
        }
    }
}

/// Halted in KVM with interrupts off (no other CPU of its own can end that `hlt`: there is no
/// NMI source here), or an application processor still waiting to be started.
fn parked(vcpu: &Vcpu) -> bool {
    match vcpu.get_mp_state() {
        Ok(KVM_MP_STATE_HALTED) => vcpu.get_regs().is_ok_and(|r| r.rflags & RFLAGS_IF == 0),
        Ok(state) => state == KVM_MP_STATE_UNINITIALIZED,
        Err(_) => false,
    }
}

/// The CPUs' answers to the halt checks: for each vCPU the last check at which it was parked,
/// and whether the machine is off.
pub struct Parked {
    check: AtomicU32,
    seen: Vec<AtomicU32>,
    off: AtomicBool,
}

impl Parked {
    /// The check under way (the first is 1: `seen` starts at 0, "never parked").
    fn round(&self) -> u32 {
        self.check.load(Ordering::SeqCst)
    }
}

/// The main thread's side: every [`HALT_CHECK`], looks at the last check's answers and kicks
/// every vCPU for the next.
pub struct HaltCheck {
    pub parked: Arc<Parked>,
    ticks: u32,
    /// Checks in a row at which every CPU was parked.
    streak: u32,
}

impl HaltCheck {
    pub fn new(vcpus: usize) -> HaltCheck {
        let seen = (0..vcpus).map(|_| AtomicU32::new(0)).collect();
        let parked = Parked { check: AtomicU32::new(1), seen, off: AtomicBool::new(false) };
        HaltCheck { parked: Arc::new(parked), ticks: 0, streak: 0 }
    }

    /// A kernel's hook for vCPU `index`.
    pub fn hook(&self, index: usize, triple_fault_resets: bool) -> Box<dyn VcpuHook> {
        Box::new(KernelHook { triple_fault_resets, index, parked: Arc::clone(&self.parked) })
    }

    pub fn tick(&mut self, control: &Control) {
        self.ticks += 1;
        if !self.ticks.is_multiple_of((HALT_CHECK.as_millis() / TICK.as_millis()) as u32) {
            return;
        }
        let p = &self.parked;
        let round = p.round();
        let all = p.seen.iter().all(|s| s.load(Ordering::SeqCst) == round);
        self.streak = if all { self.streak + 1 } else { 0 };
        if self.streak >= 2 {
            p.off.store(true, Ordering::SeqCst); // the next kick ends every vCPU
        }
        p.check.store(round + 1, Ordering::SeqCst);
        (0..p.seen.len()).for_each(|i| control.kick(i));
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
