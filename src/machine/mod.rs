//! One virtual machine from start to end: build it, run one thread per vCPU, wait, decide.
//! This file builds the VM; [`wait`] runs its threads and decides the exit status.
//!
//! The order of the steps is KVM's (api.rst section 3, "general description"): open /dev/kvm and
//! check it; KVM_CREATE_VM; give it memory (KVM_SET_USER_MEMORY_REGION); create the in-kernel
//! devices if any (they must exist before vCPUs); KVM_CREATE_VCPU and set each vCPU's registers;
//! then KVM_RUN in one thread per vCPU. The main thread meanwhile only waits: for vCPUs to stop,
//! for the timeout, for a signal, or for bytes that have sat in an output buffer too long.

use crate::boot::multiboot::Module;
use crate::boot::{self, Layout, Plan, PlanError, Start};
use crate::console::output::FlushState;
use crate::console::terminal::RawModeGuard;
use crate::console::{GuestOutput, HostInput, OutputSink};
use crate::devices::com1::Com1;
use crate::devices::{Devices, VcpuIo};
use crate::error::Error;
use crate::gdb;
use crate::guests::{Image, ImageError};
use crate::kvm::bindings::*;
use crate::kvm::{install_kick_signal_handler, Kvm, RingWatch, Vm};
use crate::log::note;
use crate::memory::GuestMemory;
use crate::setup;
use crate::stats::ExitStats;
use crate::trace::{TraceConfig, Tracer};
use crate::vcpu::VcpuRunner;
use control::{Control, Event, StopSignals};
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::{self};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How often the main thread looks at output buffers; a byte waits at most about twice this.
const FLUSH_TICK: Duration = Duration::from_millis(20);

/// How often the main thread looks at the coalesced ring while the guest runs: writes that
/// wait there (a prompt, say, followed by a `hlt` that KVM handles itself) are out within about
/// two of these (wait.rs).
const RING_TICK: Duration = Duration::from_millis(2);

mod config;
pub mod control;
mod images;
pub mod linux;
pub mod report;

pub use config::Config;
pub mod wait;

/// Everything the threads of a built VM need.
pub struct Threads {
    pub runners: Vec<VcpuRunner>,
    pub control: Arc<Control>,
    pub events: mpsc::Receiver<Event>,
    /// Readable when an event was sent (see control.rs).
    pub wake: std::io::PipeReader,
    pub flush_states: Vec<Arc<FlushState>>,
    pub input: Arc<HostInput>,
    pub raw_terminal: bool,
    pub gdb: Option<gdb::GdbSetup>,
    /// Where guest output goes; the main thread waits for it to drain before the exit.
    pub sink: Arc<OutputSink>,
    /// With COM1 coalesced: the ring, which the main thread's tick watches once the zone is
    /// registered (the flag).
    pub ring_watch: Option<(crate::kvm::RingWatch, Arc<std::sync::atomic::AtomicBool>)>,
    /// Kick the vCPUs now and then to see whether they halted for good (in-kernel irqchip).
    pub watch_halt: bool,
}

/// Between the steps of setting a VM up: has a signal or the deadline asked to stop?
fn check_stop(signals: &StopSignals) -> Result<(), Error> {
    match signals.check() {
        Some(cause) => Err(Error::Stopped(cause)),
        None => Ok(()),
    }
}

/// Runs the guests named in `opts`; returns the exit status. The steps are setup.rs's.
pub fn run(opts: &Config, signals: &StopSignals) -> Result<i32, Error> {
    let (plan, images, modules, kvm) = read_guests_and_open_kvm(opts, signals)?;
    check_stop(signals)?;
    let n = images.len();
    let layout = plan.layout(n);
    install_kick_signal_handler()
        .map_err(|e| Error::Host(format!("installing the vCPU kick signal: {e}")))?;
    let gdb = match opts.gdb {
        Some(port) => Some(gdb::prepare(&kvm, port, &plan, &images[0], n)?),
        None => None,
    };
    let mut vm = setup::create_vm(&kvm)?;
    let memory = setup::add_memory(&mut vm, &layout, n)?;
    if layout.irqchip {
        setup::create_irqchip(&kvm, &vm, matches!(plan, Plan::Linux(_)))?;
        if gdb.is_some() {
            // Guest time stands still while gdb holds the VM (gdb/mod.rs "time").
            crate::gdb::freeze_missed_ticks(&kvm, &vm);
        }
    }
    let starts = load_guests(opts, signals, &plan, &memory, &images, &modules)?;
    let vm = Arc::new(vm);
    let trace = opts.trace.map(|classes| {
        Arc::new(TraceConfig {
            classes,
            start: Instant::now(),
        })
    });
    let sync_regs = sync_regs(&kvm);
    let cpuid = cpuid_for(&kvm, &plan)?;
    let (input, devices) = build_devices(&vm, &memory, &layout, n, trace.as_ref());
    let parts = Parts {
        sync_regs,
        cpuid,
        coalesce_page: coalesce_page(&kvm, opts, n),
        input,
        devices,
        trace,
        sink: Arc::new(
            OutputSink::stdout(n > 1, opts.color)
                .map_err(|e| Error::Host(format!("cannot use stdout: {e}")))?,
        ),
    };
    let threads = create_vcpus(
        opts, &plan, &layout, &vm, &memory, &images, &starts, gdb, parts,
    )?;
    // From here on the terminal may be raw: every way out below passes the guard's drop.
    let raw_mode = RawModeGuard::enter();
    let threads = Threads {
        raw_terminal: raw_mode.is_some(),
        ..threads
    };
    let result = wait::start_and_wait(opts, signals, threads);
    drop(raw_mode);
    let (cause, reports) = result?;
    Ok(report::report(opts, cause, &reports))
}

/// The images to run, the plan that fits them, and /dev/kvm opened and checked (step 1).
/// A Linux boot is checked from its header and the files' sizes first, then the host (a
/// paravirtual KVM cannot boot Linux: one line, status 4, before anything is built), and only
/// then are its files read, so that refusal never waits for a large initrd to be read whole.
fn read_guests_and_open_kvm(
    opts: &Config,
    signals: &StopSignals,
) -> Result<(Plan, Vec<Image>, Vec<Module>, Kvm), Error> {
    if opts.linux.is_some() {
        let checked = linux::check_linux(opts)?;
        let kvm = setup::open_kvm()?;
        crate::hostcheck::linux_boot_possible(&kvm).map_err(Error::KvmUnavailable)?;
        check_stop(signals)?;
        let (plan, images, modules) = checked.read(signals)?;
        return Ok((plan, images, modules, kvm));
    }
    let (images, modules) = images::read_images(opts, signals)?;
    check_stop(signals)?;
    let plan = boot::choose(opts.mode, opts.mem, &images).map_err(|e| match e {
        PlanError::Usage(m) => Error::Usage(m),
        PlanError::Image(e) => Error::Image(e),
    })?;
    check_stop(signals)?;
    Ok((plan, images, modules, setup::open_kvm()?))
}

/// Step 5 (setup.rs): each image into its part of guest RAM, and its vCPU's start state.
fn load_guests(
    opts: &Config,
    signals: &StopSignals,
    plan: &Plan,
    memory: &GuestMemory,
    images: &[Image],
    modules: &[Module],
) -> Result<Vec<Start>, Error> {
    let cmdline = match plan {
        Plan::Linux(_) => linux::cmdline(opts),
        _ => opts.cmdline.as_deref().unwrap_or(""),
    };
    let mut starts = Vec::with_capacity(images.len());
    for (i, image) in images.iter().enumerate() {
        let start = plan
            .load(memory, i, image, cmdline, modules)
            .map_err(|reason| {
                Error::Image(ImageError {
                    path: image.origin.to_string(),
                    reason: reason.to_string(),
                })
            })?;
        note(|| {
            format!(
                "vCPU {i} ({}): {} bytes from {}; {}",
                image.name,
                image.bytes.len(),
                image.origin,
                start.describe()
            )
        });
        starts.push(start);
        check_stop(signals)?;
    }
    Ok(starts)
}

/// What CPUID tells the guest. A kernel needs it (long mode, features); the seed's 16-bit
/// real-mode programs never ask, and KVM_GET_SUPPORTED_CPUID alone costs about 0.3 ms here,
/// a sixth of the whole start-up, so real-mode runs keep KVM's empty defaults.
fn cpuid_for(kvm: &Kvm, plan: &Plan) -> Result<Option<Box<CpuidTable>>, Error> {
    if let Plan::Real = plan {
        return Ok(None);
    }
    let mut table = kvm.supported_cpuid()?;
    if let Plan::Linux(_) = plan {
        let kvm_leaves = boot::linux::patch_cpuid(&mut table);
        note(|| {
            format!(
                "CPUID: KVM_GET_SUPPORTED_CPUID plus the hypervisor bit (leaf 1 ECX bit 31); \
                 KVM's leaves at 0x40000000 (kvmclock): {}",
                if kvm_leaves { "present" } else { "absent" }
            )
        });
    }
    Ok(Some(table))
}

/// KVM_CAP_SYNC_REGS: KVM copies the registers into kvm_run at each exit, so a hypercall
/// needs no KVM_GET_REGS.
fn sync_regs(kvm: &Kvm) -> bool {
    let sync = kvm.check_extension(KVM_CAP_SYNC_REGS).unwrap_or(0) as u64 & KVM_SYNC_X86_REGS != 0;
    note(|| {
        if sync {
            "KVM_CAP_SYNC_REGS: hypercall registers come from kvm_run, no KVM_GET_REGS".into()
        } else {
            "no KVM_CAP_SYNC_REGS: each hypercall costs one KVM_GET_REGS".into()
        }
    });
    sync
}

/// COM1's THR as a coalesced PIO zone (com1.rs): with one vCPU only, since the ring is the
/// VM's and does not say which vCPU wrote an entry (several guests' lines must not mix), and
/// not under gdb, whose `stepi` over an `out` must see the exit the `out` makes. The page of
/// the vCPU mapping that holds the ring, when it is used.
fn coalesce_page(kvm: &Kvm, opts: &Config, guests: usize) -> Option<u32> {
    if !opts.coalesce || guests != 1 || opts.gdb.is_some() {
        return None;
    }
    let pio = kvm.check_extension(KVM_CAP_COALESCED_PIO).unwrap_or(0) > 0;
    let page = kvm.check_extension(KVM_CAP_COALESCED_MMIO).unwrap_or(0);
    (pio && page > 0).then_some(page as u32)
}

/// An interrupt line of the in-kernel irqchip, as devices drive it (devices/mod.rs IrqLine).
struct KvmIrqLine {
    vm: Arc<Vm>,
    trace: Option<Arc<TraceConfig>>,
}

impl crate::devices::IrqLine for KvmIrqLine {
    fn set_level(&self, irq: u32, high: bool) {
        // KVM_IRQ_LINE only fails if the irqchip is gone; the guest would then poll.
        let _ = self.vm.irq_line(irq, high);
        if let Some(trace) = &self.trace {
            trace.irq(irq, high);
        }
    }
}

/// The host input and the VM's devices: COM1 on IRQ 4 (with an irqchip), RAM above 4 GiB.
fn build_devices(
    vm: &Arc<Vm>,
    memory: &Arc<GuestMemory>,
    layout: &Layout,
    guests: usize,
    trace: Option<&Arc<TraceConfig>>,
) -> (Arc<HostInput>, Arc<Devices>) {
    let input = HostInput::new();
    let mut com1 = Com1::new(Arc::clone(&input) as Arc<dyn crate::devices::ByteSource>);
    if layout.irqchip {
        com1.connect_irq(Arc::new(KvmIrqLine {
            vm: Arc::clone(vm),
            trace: trace.cloned(),
        }));
    }
    let devices = Arc::new(Devices::new(com1));
    if layout.high > 0 {
        devices.set_high_ram(crate::devices::HighRam {
            vm: Arc::clone(vm),
            memory: Arc::clone(memory),
            slot: guests as u32,
            gpa: boot::HIGH_RAM_START,
            size: layout.high,
        });
    }
    let weak = Arc::downgrade(&devices);
    input.set_arrival_hook(Box::new(move || {
        if let Some(devices) = weak.upgrade() {
            devices.com1().input_arrived();
        }
    }));
    (input, devices)
}

/// What every vCPU is built from, found out once.
struct Parts {
    cpuid: Option<Box<CpuidTable>>,
    sync_regs: bool,
    coalesce_page: Option<u32>,
    /// stdin, vCPU 0's input and COM1's.
    input: Arc<HostInput>,
    devices: Arc<Devices>,
    trace: Option<Arc<TraceConfig>>,
    sink: Arc<OutputSink>,
}

/// Lets vCPU 0's THR writes wait in KVM's coalesced ring; the ring's watches for the vCPU and
/// for the main thread, or None if KVM refuses.
fn coalesce_com1(
    vm: &Arc<Vm>,
    vcpu: &crate::kvm::Vcpu,
    devices: &Devices,
    page: u32,
) -> Option<(RingWatch, (RingWatch, Arc<AtomicBool>))> {
    let ring = vcpu.coalesced_ring(page)?;
    let watch = (ring.watch(), ring.watch());
    let engaged = Arc::new(AtomicBool::new(false));
    match devices
        .com1()
        .enable_coalescing(ring, Arc::clone(vm), Arc::clone(&engaged))
    {
        Ok(()) => {
            note(|| {
                format!(
                    "COM1: THR writes go to KVM's coalesced ring after the first {}, no exit \
                     each (page {page} of the vCPU mapping); --no-coalesce turns it off",
                    crate::devices::com1::COALESCE_AFTER
                )
            });
            Some((watch.0, (watch.1, engaged)))
        }
        Err(e) => {
            note(|| format!("COM1: no coalescing: {e}"));
            None
        }
    }
}

/// How the main thread and the vCPU threads talk (control.rs): the stop flag and kicks, the
/// channel of events, and the pipe that wakes the main thread's poll when one is sent.
fn control_for(
    vcpus: usize,
) -> Result<(Arc<Control>, mpsc::Receiver<Event>, std::io::PipeReader), Error> {
    let (tx, rx) = mpsc::channel();
    let (wake_rx, wake_tx) =
        std::io::pipe().map_err(|e| Error::Host(format!("creating a pipe: {e}")))?;
    Ok((Arc::new(Control::new(vcpus, tx, wake_tx)), rx, wake_rx))
}

/// What every vCPU's runner shares with the others.
struct Shared<'a> {
    devices: &'a Arc<Devices>,
    input: &'a Arc<HostInput>,
    control: &'a Arc<Control>,
    sink: &'a Arc<OutputSink>,
    trace: Option<&'a Arc<TraceConfig>>,
    debugger: Option<&'a Arc<gdb::debugger::Debugger>>,
    memory: &'a Arc<GuestMemory>,
    io_rip: Option<crate::exit_address::IoRipRule>,
    forbidden_syscall: bool,
    stats: bool,
    irqchip: bool,
    linux: bool,
}

impl Shared<'_> {
    /// vCPU `index`'s thread state: its own output and input (stdin is vCPU 0's; the others
    /// see an input that has ended), and its share of everything else.
    fn runner(
        &self,
        index: usize,
        name: &str,
        vcpu: crate::kvm::Vcpu,
        coalesced: Option<RingWatch>,
    ) -> VcpuRunner {
        let input = if index == 0 {
            Arc::clone(self.input)
        } else {
            HostInput::ended()
        };
        let mut io = VcpuIo::new(GuestOutput::new(Arc::clone(self.sink), index), input);
        // Linux reboots by triple fault when nothing else works (reboot=t first).
        io.triple_fault_resets = self.linux;
        VcpuRunner {
            index,
            name: name.to_string(),
            vcpu,
            devices: Arc::clone(self.devices),
            io,
            control: Arc::clone(self.control) as Arc<dyn crate::vcpu::RunControl>,
            stats: ExitStats::new(self.stats),
            trace: self
                .trace
                .map(|config| Tracer::new(Arc::clone(config), index)),
            debug: self
                .debugger
                .map(|d| Arc::clone(d) as Arc<dyn crate::vcpu::DebugHook>),
            memory: Arc::clone(self.memory),
            io_rip: self.io_rip,
            forbidden_syscall: self.forbidden_syscall,
            coalesced,
            watch_halt: self.irqchip,
            recent: Default::default(),
        }
    }
}

/// Step 6 for every guest, and the threads' shared state: a runner per vCPU, ready to start.
#[allow(clippy::too_many_arguments)] // the steps' results, named; a struct would only rename them
fn create_vcpus(
    opts: &Config,
    plan: &Plan,
    layout: &Layout,
    vm: &Arc<Vm>,
    memory: &Arc<GuestMemory>,
    images: &[Image],
    starts: &[Start],
    gdb: Option<gdb::GdbSetup>,
    parts: Parts,
) -> Result<Threads, Error> {
    let n = images.len();
    let (input, devices) = (parts.input, parts.devices);
    let (control, rx, wake_rx) = control_for(n)?;
    let forbidden_syscall = crate::confine::test_forbidden_syscall_wanted();
    // Where RIP points at an I/O exit, measured by a probe VM of its own (a few ms) when
    // addresses will be printed often (--trace, --gdb); now, since the seccomp filter
    // installed before the first KVM_RUN allows no new VM. Otherwise a fault message works it
    // out from the instruction bytes (exit_address.rs).
    let io_rip = (opts.trace.is_some() || opts.gdb.is_some()).then(crate::hostcheck::io_rip_rule);
    if let Some(g) = &gdb {
        g.debugger.attach_memory(Arc::clone(memory));
    }
    let shared = Shared {
        devices: &devices,
        input: &input,
        control: &control,
        sink: &parts.sink,
        trace: parts.trace.as_ref(),
        debugger: gdb.as_ref().map(|g| &g.debugger),
        memory,
        io_rip,
        forbidden_syscall,
        stats: opts.stats,
        irqchip: layout.irqchip,
        linux: matches!(plan, Plan::Linux(_)),
    };
    let mut runners = Vec::with_capacity(n);
    let mut flush_states = Vec::with_capacity(n);
    let mut ring_watch = None;
    for (i, (image, start)) in images.iter().zip(starts).enumerate() {
        let mut vcpu = setup::create_vcpu(vm, i as u32, parts.cpuid.as_deref(), start)?;
        let coalesced = match (i, parts.coalesce_page) {
            (0, Some(page)) => coalesce_com1(vm, &vcpu, &devices, page).map(|(mine, main)| {
                ring_watch = Some(main);
                mine
            }),
            _ => None,
        };
        if parts.sync_regs {
            // While tracing or debugging, KVM also syncs the segment registers (CS:IP).
            vcpu.enable_sync_regs(parts.trace.is_some() || gdb.is_some());
        }
        let runner = shared.runner(i, &image.name, vcpu, coalesced);
        flush_states.push(runner.io.output.flush_state());
        runners.push(runner);
    }
    Ok(Threads {
        runners,
        control,
        events: rx,
        wake: wake_rx,
        flush_states,
        input,
        raw_terminal: false,
        gdb,
        sink: parts.sink,
        ring_watch,
        watch_halt: layout.irqchip,
    })
}
