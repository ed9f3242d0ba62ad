//! `--host-check`: what can this host's KVM do? Tiny probe guests find out, and a table says
//! what each answer means for guests.
//!
//! KVM is not one thing. On Intel VMX and AMD SVM it runs guests on the hardware; a
//! paravirtual KVM (one that runs inside a cloud VM with no VT-x/AMD-V underneath) or a KVM
//! nested under an emulator runs much of the guest's code through KVM's instruction emulator,
//! which has gaps and differences (docs/kvm-variants.md). Each check (checks.rs) builds a VM of
//! its own by the machine's steps (api.rst section 3; probe.rs), runs one probe from
//! `guests/probes/` under a watchdog, and records a typed finding ([`Findings`]), with the
//! capabilities KVM_CHECK_EXTENSION reports (api.rst 4.4, section 8). The table (report.rs,
//! `--host-check`) and the `key value` lines (keys.rs, `--host-check=keys`, which the tests
//! read to decide what to expect on this host) are both made from the findings.
//!
//! Other layers ask single questions: [`linux_boot_possible`] (`--linux`), [`irqfd_delivers`]
//! (the virtio disk), [`io_rip_rule`] (trace, gdb), [`software_breakpoints_work`], [`hardware_breakpoints`] and
//! [`steps_in_ring3`] (gdb).

mod checks;
mod eventfd;
mod keys;
mod probe;
mod report;

pub use checks::software_breakpoints_work;
pub use eventfd::{ioeventfd_works, irqfd_delivers};
pub use probe::run_probe;

use crate::error::{status, Ending};
use crate::kvm::bindings::{KVM_CAP_IMMEDIATE_EXIT, KVM_CAP_SYNC_REGS};
use crate::kvm::coalesced::{KVM_CAP_COALESCED_MMIO, KVM_CAP_COALESCED_PIO};
use crate::kvm::debug::KVM_CAP_GUEST_DEBUG_HW_BPS;
use crate::kvm::Kvm;

/// KVM_CAP_NR_VCPUS and KVM_CAP_MAX_VCPUS (include/uapi/linux/kvm.h; api.rst 4.7): the vCPUs
/// KVM recommends and allows per VM.
const KVM_CAP_NR_VCPUS: u32 = 9;
const KVM_CAP_MAX_VCPUS: u32 = 66;

/// A yes/no finding; No carries what happened instead.
#[derive(Debug, Clone, PartialEq)]
pub enum Works {
    Yes,
    No(String),
}

impl Works {
    pub fn yes(&self) -> bool {
        *self == Works::Yes
    }
}

/// 32-bit paging without PAE, set by KVM_SET_SREGS and read back.
#[derive(Debug, Clone, PartialEq)]
pub enum Paging32 {
    /// CR0.PG reads back set.
    Works,
    /// CR0.PG was silently dropped (a KVM that cannot run 32-bit paged guests).
    PgDropped { wanted: u64, read_back: u64 },
    /// The probe VM could not be built or its registers set.
    Failed(String),
}

/// How `int 0x80` from 64-bit ring 3 reaches the guest kernel.
#[derive(Debug, Clone, PartialEq)]
pub enum IntRing3 {
    /// Through the IDT gate, as on hardware.
    ThroughIdt,
    /// As #UD with RIP at the `int` (a paravirtual KVM).
    UdAtInt,
    Fails(String),
}

/// KVM_GUESTDBG_SINGLESTEP: a KVM_EXIT_DEBUG per instruction, from the first two addresses.
#[derive(Debug, Clone, PartialEq)]
pub enum SingleStep {
    Works { first_pcs: (u64, u64) },
    Fails(String),
}

pub use crate::exit_address::IoRipRule;

/// The CPU as the host kernel describes it (/proc/cpuinfo): for the name of the kind only.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Cpu {
    pub vmx: bool,
    pub svm: bool,
    /// The `hypervisor` flag: this host is itself a virtual machine.
    pub nested: bool,
}

impl Cpu {
    /// Reads the first processor's `flags` line.
    pub fn parse(cpuinfo: &str) -> Cpu {
        let flags =
            cpuinfo.lines().filter_map(|l| l.split_once(':')).find(|(k, _)| k.trim() == "flags");
        let has = |f: &str| flags.is_some_and(|(_, v)| v.split_whitespace().any(|x| x == f));
        Cpu { vmx: has("vmx"), svm: has("svm"), nested: has("hypervisor") }
    }
}

/// Everything `--host-check` found out.
#[derive(Debug, Clone)]
pub struct Findings {
    pub api_version: i32,
    pub real_mode: Works,
    /// µs per port-I/O exit round trip.
    pub exit_cost_us: Option<f64>,
    pub protected_mode: Works,
    pub paging32: Paging32,
    pub long_mode: Works,
    pub interrupts: Works,
    pub ten_ticks_ms: f64,
    pub int_ring3: IntRing3,
    /// `int 0x80` at ring 0 in 32-bit protected mode, through an IDT gate.
    pub int_pm32: Works,
    /// ns per loop iteration of ring-3 and ring-0 code (64-bit).
    pub ring3_ns: Option<f64>,
    pub ring0_ns: Option<f64>,
    pub single_step: SingleStep,
    pub sw_breakpoints: Result<bool, String>,
    pub io_rip: Result<IoRipRule, String>,
    /// The registers after KVM_EXIT_SHUTDOWN: kept (true) or reset by KVM (false).
    pub shutdown_regs_kept: Result<bool, String>,
    pub sync_regs: i32,
    pub immediate_exit: bool,
    /// KVM_CAP_COALESCED_PIO, and KVM_CAP_COALESCED_MMIO (the ring's page in the vCPU mmap).
    pub coalesced_pio: bool,
    pub coalesced_page: i32,
    /// Stores to a KVM_IOEVENTFD address signal its eventfd, with no exit (the disk's notify).
    pub ioeventfd: Works,
    /// A write to a KVM_IRQFD eventfd reaches the guest as an interrupt (the disk's).
    pub irqfd: Works,
    pub nr_vcpus: i32,
    /// Whether vCPU 0's INIT and STARTUP IPIs start vCPU 1 (smp/probe.rs).
    pub ap_start: Works,
    pub max_vcpus: i32,
    pub hw_breakpoints: i32,
    /// System calls mini-kvm's seccomp filter allows; None: no seccomp in this kernel.
    pub seccomp: Option<usize>,
    pub cpu: Cpu,
}

/// Below this many ns per loop iteration, code ran on the CPU rather than in an emulator
/// (native: about 1 ns; emulated: hundreds).
const NATIVE_NS: f64 = 20.0;

/// Native (true) or emulated (false) code, from a measured loop.
pub fn native(ns: Option<f64>) -> Option<bool> {
    ns.map(|ns| ns < NATIVE_NS)
}

impl Findings {
    /// A paravirtual KVM shows itself by what it cannot do that hardware KVM can: keep CR0.PG
    /// in 32-bit mode, deliver `int n` through the IDT.
    pub fn paravirtual(&self) -> bool {
        matches!(self.paging32, Paging32::PgDropped { .. }) || self.int_ring3 == IntRing3::UdAtInt
    }

    /// A name for the kind of KVM, e.g. "AMD SVM, nested" or "paravirtual".
    pub fn kind(&self) -> String {
        let hardware = match (self.cpu.vmx, self.cpu.svm) {
            _ if self.paravirtual() => return "paravirtual".into(),
            (true, _) => "Intel VMX",
            (_, true) => "AMD SVM",
            _ => "hardware KVM",
        };
        match self.cpu.nested {
            true => format!("{hardware}, nested"),
            false => hardware.to_string(),
        }
    }

    /// Can `--linux` boot an ordinary kernel here? Not on a paravirtual KVM, whose emulated
    /// ring 0 cannot run one (see [`linux_boot_possible`]).
    pub fn linux_boots(&self) -> bool {
        !self.paravirtual() && self.long_mode.yes() && self.interrupts.yes()
    }

    /// Single-steps reach ring-3 code unless the host runs ring 3 natively while it emulates
    /// ring 0 (a paravirtual KVM: native user code never passes through the emulator that
    /// reports the steps). On hardware both rings step, and under QEMU's software CPU both
    /// are emulated.
    pub fn steps_in_ring3(&self) -> bool {
        matches!(self.single_step, SingleStep::Works { .. })
            && !ring3_alone_native(self.ring3_ns, self.ring0_ns)
    }

    /// The guests' needs this host misses, by row name: empty when all of mini-kvm's guests
    /// can run here (`--host-check` then exits 0).
    pub fn missing(&self) -> Vec<&'static str> {
        [
            ("real mode", self.real_mode.yes()),
            ("32-bit protected mode", self.protected_mode.yes()),
            ("long mode", self.long_mode.yes()),
            ("in-kernel irqchip + PIT", self.interrupts.yes()),
            ("int n from ring 3", !matches!(self.int_ring3, IntRing3::Fails(_))),
            ("KVM_CAP_IMMEDIATE_EXIT", self.immediate_exit),
        ]
        .into_iter()
        .filter_map(|(what, ok)| (!ok).then_some(what))
        .collect()
    }
}

/// Does ring-3 code run natively while ring-0 code is emulated? Decided by the ratio of the
/// two loops (each the fastest of ten rounds), not by each against [`NATIVE_NS`]: under
/// QEMU's software CPU both run near that threshold, while the paravirtual split is a factor
/// of about a thousand (1 ns against 2,000).
pub fn ring3_alone_native(ring3_ns: Option<f64>, ring0_ns: Option<f64>) -> bool {
    match (ring3_ns, ring0_ns) {
        (Some(r3), Some(r0)) => native(Some(r3)) == Some(true) && r0 > 20.0 * r3,
        _ => false,
    }
}

/// Runs every probe.
pub fn probe_host(kvm: &Kvm) -> Findings {
    let cap = |c| kvm.check_extension(c);
    let (real_mode, exit_cost_us) = checks::real_mode(kvm);
    let (interrupts, ten_ticks_ms) = checks::interrupts(kvm);
    let (int_ring3, ring3_ns, ring0_ns) = checks::ring3(kvm);
    Findings {
        api_version: kvm.get_api_version().unwrap_or(0),
        real_mode,
        exit_cost_us,
        protected_mode: checks::simple(kvm, "pmode", false, 0x32),
        paging32: checks::paging32(kvm),
        long_mode: checks::simple(kvm, "long", true, 0x64),
        interrupts,
        ten_ticks_ms,
        int_ring3,
        int_pm32: checks::simple(kvm, "int32", false, 0x80),
        ring3_ns,
        ring0_ns,
        single_step: checks::single_step(kvm),
        sw_breakpoints: software_breakpoints_work(kvm),
        io_rip: checks::io_rip(kvm),
        shutdown_regs_kept: checks::shutdown_regs_kept(kvm),
        sync_regs: cap(KVM_CAP_SYNC_REGS),
        immediate_exit: cap(KVM_CAP_IMMEDIATE_EXIT) > 0,
        coalesced_pio: cap(KVM_CAP_COALESCED_PIO) > 0,
        coalesced_page: cap(KVM_CAP_COALESCED_MMIO),
        ioeventfd: ioeventfd_works(kvm),
        irqfd: irqfd_delivers(kvm),
        nr_vcpus: cap(KVM_CAP_NR_VCPUS),
        ap_start: crate::smp::ap_starts(kvm).map_or_else(Works::No, |()| Works::Yes),
        max_vcpus: cap(KVM_CAP_MAX_VCPUS),
        hw_breakpoints: cap(KVM_CAP_GUEST_DEBUG_HW_BPS),
        seccomp: crate::confine::allowed_calls(),
        cpu: Cpu::parse(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default()),
    }
}

/// `mini-kvm --host-check[=table|keys]`: runs every check; the text to print, and status 0
/// when mini-kvm's own guests can all run here (else 1).
pub fn run(format: Option<&str>) -> Result<(String, i32), Ending> {
    let keys = match format {
        None | Some("table") => false,
        Some("keys") => true,
        Some(other) => {
            return Err(Ending::Usage(format!("--host-check= takes table or keys, not '{other}'")))
        }
    };
    let findings = probe_host(&crate::machine::open_kvm()?);
    let text = if keys { keys::keys(&findings) } else { report::table(&findings) };
    let all_run = findings.missing().is_empty();
    Ok((text, if all_run { status::OK } else { status::HOST_FAILURE }))
}

/// The one line `--linux` exits with (status 4) where it cannot work.
const LINUX_REFUSED: &str = "--linux: this host's KVM is paravirtual (CR0.PG set through \
     KVM_SET_SREGS reads back clear; mini-kvm --host-check shows it): it runs a kernel's ring-0 \
     code through KVM's instruction emulator, which cannot boot an ordinary Linux kernel; boot \
     it on a hardware (VMX/SVM) KVM or in the real-KVM lane (make test-real-kvm)";

/// Before a Linux boot: is this a KVM that can run one? The cheap half of the paravirtual
/// signature (32-bit paging, one KVM_SET_SREGS in a probe VM) decides, before the VM is built.
pub fn linux_boot_possible(kvm: &Kvm) -> Result<(), String> {
    match checks::paging32(kvm) {
        Paging32::PgDropped { .. } => Err(LINUX_REFUSED.into()),
        _ => Ok(()),
    }
}

/// This host's I/O-exit RIP rule, measured with the io_rip probe in a VM of its own (a few
/// ms, so only when an address must be printed); mainline KVM's rule if the probe fails.
pub fn io_rip_rule() -> IoRipRule {
    let kvm = crate::machine::open_kvm().ok();
    kvm.and_then(|kvm| checks::io_rip(&kvm).ok()).unwrap_or(IoRipRule::AT_INSTRUCTION)
}

/// Can a debugger single-step ring-3 code here? The same probes and rule as the
/// `single-step-ring3` finding ([`Findings::steps_in_ring3`]), for `--gdb` to refuse user-page
/// breakpoints it could never hit.
pub fn steps_in_ring3(kvm: &Kvm) -> bool {
    let (_, ring3_ns, ring0_ns) = checks::ring3(kvm);
    matches!(checks::single_step(kvm), SingleStep::Works { .. })
        && !ring3_alone_native(ring3_ns, ring0_ns)
}

/// How many debug registers a debugger can use here: 4 when an instruction breakpoint in DR0
/// is reported (checks.rs), else 0.
pub fn hardware_breakpoints(kvm: &Kvm) -> usize {
    if checks::hardware_breakpoints_work(kvm) {
        4
    } else {
        0
    }
}

#[cfg(test)]
mod tests;
