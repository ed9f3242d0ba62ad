//! One virtual machine from start to end: build it, run one thread per vCPU, wait, decide.
//! This file builds the VM; [`wait`] runs its threads and decides the exit status.
//!
//! The order of the steps is KVM's (api.rst section 3, "general description"): open /dev/kvm and
//! check it; KVM_CREATE_VM; give it memory (KVM_SET_USER_MEMORY_REGION); create the in-kernel
//! devices if any (they must exist before vCPUs); KVM_CREATE_VCPU and set each vCPU's registers;
//! then KVM_RUN in one thread per vCPU. The main thread meanwhile only waits: for vCPUs to stop,
//! for the timeout, for a signal, or for bytes that have sat in an output buffer too long.

use crate::boot::multiboot::Module;
use crate::boot::{self, longmode, paging32, realmode, Mode, Plan, PlanError, Start};
use crate::cli::RunOptions;
use crate::console::output::FlushState;
use crate::console::terminal::RawModeGuard;
use crate::console::{GuestOutput, HostInput, OutputSink};
use crate::control::{Control, Event, StopSignals};
use crate::devices::com1::Com1;
use crate::devices::{Devices, VcpuIo};
use crate::error::{kvm_unavailable, Error};
use crate::gdb;
use crate::guests::{self, Image, ImageError};
use crate::kvm::bindings::*;
use crate::kvm::{install_kick_signal_handler, Kvm};
use crate::memory::GuestMemory;
use crate::stats::ExitStats;
use crate::trace::{TraceConfig, Tracer};
use crate::vcpu::{DebugHandle, VcpuReport, VcpuRunner};
use crate::x86::CR0_PG;
use std::sync::mpsc::{self};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Where KVM may put the three pages Intel VMX needs for real mode (KVM_SET_TSS_ADDR): just
/// below 4 GiB, where no guest RAM of ours ever is. (The seed used 0x200000, inside the RAM of
/// larger guests.)
const TSS_ADDR: u64 = 0xFFFB_D000;

/// How often the main thread looks at output buffers; a byte waits at most about twice this.
const FLUSH_TICK: Duration = Duration::from_millis(20);

/// How often the main thread looks at the coalesced ring while the guest runs: writes that
/// wait there (a prompt, say, followed by a `hlt` that KVM handles itself) are out within about
/// two of these (wait.rs).
const RING_TICK: Duration = Duration::from_millis(2);

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

pub fn note(verbose: bool, message: impl FnOnce() -> String) {
    if verbose {
        diag!("mini-kvm: {}", message());
    }
}

/// Opens the KVM device (`MINI_KVM_DEVICE`, else /dev/kvm) and checks the API version and the
/// capabilities mini-kvm relies on, naming each one missing.
pub fn open_kvm(verbose: bool) -> Result<Kvm, Error> {
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
    note(verbose, || {
        format!("opened {device}: KVM API version {version}")
    });
    Ok(kvm)
}

pub mod linux;
pub mod wait;

/// Everything the threads of a built VM need.
pub struct Threads {
    pub runners: Vec<VcpuRunner>,
    pub control: Arc<Control<VcpuReport>>,
    pub events: mpsc::Receiver<Event<VcpuReport>>,
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

/// The most bytes an image may have in this run, and that limit in words for the message.
fn image_limit(opts: &RunOptions, kernel: bool) -> (u64, String) {
    if kernel {
        let mem = opts.mem.unwrap_or(boot::DEFAULT_KERNEL_RAM);
        let whence = if opts.mem.is_some() {
            "--mem"
        } else {
            "the default; see --mem"
        };
        let low = boot::low_ram(mem);
        let what = if low < mem {
            format!("the {low} bytes of guest RAM below 4 GiB, where a Multiboot kernel loads")
        } else {
            format!("the {mem} bytes of guest RAM a Multiboot kernel gets ({whence})")
        };
        return (low, what);
    }
    match opts.mode {
        Mode::Long => (
            longmode::MAX_IMAGE,
            format!(
                "the {} bytes a 64-bit (--long-mode) guest can have",
                longmode::MAX_IMAGE
            ),
        ),
        Mode::Paging { .. } => (
            paging32::MEMORY_SIZE,
            format!(
                "the {} bytes of memory a --paging guest gets",
                paging32::MEMORY_SIZE
            ),
        ),
        Mode::Auto => (
            realmode::SLOT_SIZE,
            format!(
                "the {} bytes of a real-mode guest's slot (a flat binary; a Multiboot kernel \
                 would be recognised from its header)",
                realmode::SLOT_SIZE
            ),
        ),
    }
}

/// Does an image's start say "kernel" (a Multiboot header, even a broken one, or ELF)?
fn looks_like_kernel(head: &[u8]) -> bool {
    !matches!(boot::multiboot::find_header(head), Ok(None)) || boot::elf::is_elf(head)
}

/// Resolves the GUEST arguments and the modules into images: every size is checked first (from
/// the files' metadata: each against its mode's limit, then kernel, modules and command line
/// together against guest RAM), and only then is anything read, in pieces between which a
/// stop request is noticed.
fn read_images(
    opts: &RunOptions,
    signals: &StopSignals,
) -> Result<(Vec<Image>, Vec<Module>), Error> {
    let opened = opts
        .guests
        .iter()
        .map(|g| guests::open(g))
        .collect::<Result<Vec<_>, _>>()?;
    let kernel = opened.iter().any(|o| looks_like_kernel(o.head()));
    if !kernel && (!opts.modules.is_empty() || opts.cmdline.is_some()) {
        return Err(Error::Usage(
            "--cmdline and --module are for Multiboot kernels; flat guests get neither".into(),
        ));
    }
    for o in &opened {
        let (limit, what) = image_limit(opts, looks_like_kernel(o.head()));
        if o.len() > limit {
            return Err(Error::Image(ImageError {
                path: o.arg().to_string(),
                reason: format!("is {} bytes, larger than {what}", o.len()),
            }));
        }
    }
    let modules = opts
        .modules
        .iter()
        .map(|m| guests::open(m))
        .collect::<Result<Vec<_>, _>>()?;
    if kernel {
        // Kernel and modules are loaded below the 4 GiB hole, whatever --mem says.
        let mem = boot::low_ram(opts.mem.unwrap_or(boot::DEFAULT_KERNEL_RAM));
        let cmdline = opts.cmdline.as_deref().map_or(0, |c| c.len() as u64);
        let mut total = opened.iter().map(|o| o.len()).sum::<u64>() + cmdline;
        for m in &modules {
            total = total.saturating_add(m.len());
            if total > mem {
                return Err(Error::Image(ImageError {
                    path: m.arg().to_string(),
                    reason: format!(
                        "is {} bytes: with the kernel, the command line and the modules before \
                         it that makes {total} bytes, more than the {mem} bytes of guest RAM \
                         (see --mem)",
                        m.len()
                    ),
                }));
            }
        }
    }
    let stopped = std::cell::Cell::new(None);
    let interrupted = || {
        if stopped.get().is_none() {
            stopped.set(signals.check());
        }
        stopped.get().is_some()
    };
    let mut images = Vec::with_capacity(opened.len());
    for o in opened {
        match o.read(&interrupted)? {
            Some(image) => images.push(image),
            None => break,
        }
    }
    let mut loaded = Vec::with_capacity(modules.len());
    for m in modules {
        if stopped.get().is_some() {
            break;
        }
        let name = m.arg().to_string();
        if let Some(image) = m.read(&interrupted)? {
            loaded.push(Module {
                name,
                bytes: image.bytes.into_owned(),
            });
        }
    }
    if let Some(cause) = stopped.get() {
        return Err(Error::Stopped(cause));
    }
    Ok((images, loaded))
}

/// Between the steps of setting a VM up: has a signal or the deadline asked to stop?
fn check_stop(signals: &StopSignals) -> Result<(), Error> {
    match signals.check() {
        Some(cause) => Err(Error::Stopped(cause)),
        None => Ok(()),
    }
}

/// Runs the guests named in `opts`; returns the exit status.
pub fn run(opts: &RunOptions, signals: &StopSignals) -> Result<i32, Error> {
    let verbose = opts.verbose;
    let (plan, images, modules) = if opts.linux.is_some() {
        linux::read_linux(opts, signals)?
    } else {
        let (images, modules) = read_images(opts, signals)?;
        check_stop(signals)?;
        let plan = boot::choose(opts.mode, opts.mem, &images).map_err(|e| match e {
            PlanError::Usage(m) => Error::Usage(m),
            PlanError::Image(e) => Error::Image(e),
        })?;
        (plan, images, modules)
    };
    check_stop(signals)?;
    let n = images.len();
    let layout = plan.layout(n);
    let kvm = open_kvm(verbose)?;
    if let Plan::Linux(_) = plan {
        // Found out before anything is built, so the refusal is one line and status 4.
        crate::hostcheck::linux_boot_possible(&kvm).map_err(Error::KvmUnavailable)?;
    }
    check_stop(signals)?;
    install_kick_signal_handler()
        .map_err(|e| Error::Host(format!("installing the vCPU kick signal: {e}")))?;
    let gdb = match opts.gdb {
        Some(port) => Some(gdb::prepare(&kvm, port, &plan, &images[0], n, verbose)?),
        None => None,
    };

    // The VM, its memory (one mmap, one memory slot per guest) and in-kernel devices.
    let mut vm = kvm.create_vm()?;
    vm.set_tss_addr(TSS_ADDR)?;
    let memory = Arc::new(GuestMemory::new(layout.ram).map_err(|e| Error::Host(e.to_string()))?);
    for i in 0..n {
        let base = i as u64 * layout.slot_size;
        vm.set_user_memory_region(i as u32, &memory, base, layout.slot_size)?;
    }
    note(verbose, || {
        let mut text = format!(
            "guest RAM: {} KiB at guest-physical 0, {n} memory slot(s) of {} KiB",
            n as u64 * layout.slot_size / 1024,
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
    if layout.irqchip {
        for cap in [KVM_CAP_IRQCHIP, KVM_CAP_PIT2] {
            if kvm.check_extension(cap).unwrap_or(0) <= 0 {
                return Err(Error::KvmUnavailable(format!(
                    "this KVM has no in-kernel {}, which an OS kernel needs",
                    if cap == KVM_CAP_IRQCHIP {
                        "irqchip (KVM_CAP_IRQCHIP)"
                    } else {
                        "PIT (KVM_CAP_PIT2)"
                    }
                )));
            }
        }
        vm.create_irqchip()?;
        vm.create_pit2(matches!(plan, Plan::Linux(_)))?;
        if gdb.is_some() {
            // Guest time stands still while gdb holds the VM (gdb/mod.rs "time").
            crate::gdb::freeze_missed_ticks(&kvm, &vm, verbose);
        }
        note(verbose, || {
            "in-kernel 8259 PICs, IOAPIC and LAPIC (KVM_CREATE_IRQCHIP) and 8254 PIT \
             (KVM_CREATE_PIT2): IRQ 0 timer, IRQ 4 COM1"
                .into()
        });
    }
    let mut starts = Vec::with_capacity(n);
    for (i, image) in images.iter().enumerate() {
        let start = plan
            .load(
                &memory,
                i,
                image,
                match plan {
                    Plan::Linux(_) => linux::cmdline(opts),
                    _ => opts.cmdline.as_deref().unwrap_or(""),
                },
                &modules,
            )
            .map_err(|reason| {
                Error::Image(ImageError {
                    path: image.origin.to_string(),
                    reason: reason.to_string(),
                })
            })?;
        note(verbose, || {
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
    let vm = Arc::new(vm);
    let sync_regs =
        kvm.check_extension(KVM_CAP_SYNC_REGS).unwrap_or(0) as u64 & KVM_SYNC_X86_REGS != 0;
    note(verbose, || {
        if sync_regs {
            "KVM_CAP_SYNC_REGS: hypercall registers come from kvm_run, no KVM_GET_REGS".into()
        } else {
            "no KVM_CAP_SYNC_REGS: each hypercall costs one KVM_GET_REGS".into()
        }
    });
    // What CPUID tells the guest. A kernel needs it (long mode, features); the seed's 16-bit
    // real-mode programs never ask, and KVM_GET_SUPPORTED_CPUID alone costs about 0.3 ms here,
    // a sixth of the whole start-up, so real-mode runs keep KVM's empty defaults.
    let mut cpuid = match plan {
        Plan::Real => None,
        _ => Some(kvm.supported_cpuid()?),
    };
    if let (Plan::Linux(_), Some(table)) = (&plan, &mut cpuid) {
        let kvm_leaves = boot::linux::patch_cpuid(table);
        note(verbose, || {
            format!(
                "CPUID: KVM_GET_SUPPORTED_CPUID plus the hypervisor bit (leaf 1 ECX bit 31); \
                 KVM's leaves at 0x40000000 (kvmclock): {}",
                if kvm_leaves { "present" } else { "absent" }
            )
        });
    }

    // Devices and console.
    let input = HostInput::new();
    let mut com1 = Com1::new(Arc::clone(&input));
    if layout.irqchip {
        com1.connect_irq(Arc::clone(&vm));
    }
    let devices = Arc::new(Devices::new(com1));
    if layout.high > 0 {
        devices.set_high_ram(crate::devices::HighRam {
            vm: Arc::clone(&vm),
            memory: Arc::clone(&memory),
            slot: n as u32,
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
    let trace_config = opts.trace.map(|classes| {
        Arc::new(TraceConfig {
            classes,
            start: Instant::now(),
        })
    });
    if let Some(config) = &trace_config {
        devices.com1().trace_irq(Arc::clone(config));
    }
    let sink = Arc::new(
        OutputSink::stdout(n > 1, opts.color)
            .map_err(|e| Error::Host(format!("cannot use stdout: {e}")))?,
    );

    // vCPUs in their start state.
    let (tx, rx) = mpsc::channel();
    let (wake_rx, wake_tx) =
        std::io::pipe().map_err(|e| Error::Host(format!("creating a pipe: {e}")))?;
    let control = Arc::new(Control::new(n, tx, wake_tx));
    let forbidden_syscall = crate::confine::test_forbidden_syscall_wanted();
    let mut runners = Vec::with_capacity(n);
    let mut flush_states = Vec::with_capacity(n);
    // Where RIP points at an I/O exit, measured by a probe VM of its own (a few ms) when
    // addresses will be printed often (--trace, --gdb); now, since the seccomp filter
    // installed before the first KVM_RUN allows no new VM. Otherwise a fault message works it
    // out from the instruction bytes (exit_address.rs).
    let io_rip = (opts.trace.is_some() || opts.gdb.is_some()).then(crate::hostcheck::io_rip_rule);
    if let Some(g) = &gdb {
        g.debugger.attach_memory(Arc::clone(&memory));
    }
    // COM1's THR as a coalesced PIO zone (com1.rs): with one vCPU only, since the ring is the
    // VM's and does not say which vCPU wrote an entry (several guests' lines must not mix), and
    // not under gdb, whose `stepi` over an `out` must see the exit the `out` makes.
    let coalesce_page = if opts.coalesce && n == 1 && opts.gdb.is_none() {
        let pio = kvm.check_extension(KVM_CAP_COALESCED_PIO).unwrap_or(0) > 0;
        let page = kvm.check_extension(KVM_CAP_COALESCED_MMIO).unwrap_or(0);
        (pio && page > 0).then_some(page as u32)
    } else {
        None
    };
    let mut ring_watch = None;
    for (i, (image, start)) in images.iter().zip(&starts).enumerate() {
        let mut vcpu = vm.create_vcpu(i as u32)?;
        let mut coalesced = None;
        if let (0, Some(page)) = (i, coalesce_page) {
            if let Some(ring) = vcpu.coalesced_ring(page) {
                let watch = (ring.watch(), ring.watch());
                let engaged = Arc::new(std::sync::atomic::AtomicBool::new(false));
                let shared = Arc::clone(&engaged);
                match devices
                    .com1()
                    .enable_coalescing(ring, Arc::clone(&vm), shared)
                {
                    Ok(()) => {
                        note(verbose, || {
                            format!(
                                "COM1: THR writes go to KVM's coalesced ring after the first {}, no exit \
                                 each (page {page} of the vCPU mapping); --no-coalesce turns \
                                 it off",
                                crate::devices::com1::COALESCE_AFTER
                            )
                        });
                        coalesced = Some(watch.0);
                        ring_watch = Some((watch.1, engaged));
                    }
                    Err(e) => note(verbose, || format!("COM1: no coalescing: {e}")),
                }
            }
        }
        if let Some(cpuid) = &cpuid {
            vcpu.set_cpuid2(cpuid)?;
        }
        let mut sregs = vcpu.get_sregs()?;
        start.set_sregs(&mut sregs);
        vcpu.set_sregs(&sregs)?;
        if let Start::Paging32 { .. } = start {
            let cr0 = vcpu.get_sregs()?.cr0;
            if cr0 & CR0_PG == 0 {
                return Err(Error::KvmUnavailable(paging32::unsupported_here(cr0)));
            }
        }
        vcpu.set_regs(&start.regs())?;
        if sync_regs {
            // While tracing or debugging, KVM also syncs the segment registers (CS:IP).
            vcpu.enable_sync_regs(trace_config.is_some() || gdb.is_some());
        }
        let output = GuestOutput::new(Arc::clone(&sink), i);
        flush_states.push(output.flush_state());
        let vcpu_input = if i == 0 {
            Arc::clone(&input)
        } else {
            HostInput::ended()
        };
        runners.push(VcpuRunner {
            index: i,
            name: image.name.clone(),
            vcpu,
            devices: Arc::clone(&devices),
            io: {
                let mut io = VcpuIo::new(output, vcpu_input);
                // Linux reboots by triple fault when nothing else works (reboot=t first).
                io.triple_fault_resets = matches!(plan, Plan::Linux(_));
                io
            },
            control: Arc::clone(&control),
            stats: ExitStats::new(opts.stats),
            trace: trace_config
                .as_ref()
                .map(|config| Tracer::new(Arc::clone(config), i)),
            debug: gdb.as_ref().map(|g| DebugHandle {
                debugger: Arc::clone(&g.debugger),
                memory: Arc::clone(&memory),
            }),
            memory: Arc::clone(&memory),
            io_rip,
            forbidden_syscall,
            coalesced,
            watch_halt: layout.irqchip,
        });
    }

    // From here on the terminal may be raw: every way out below passes the guard's drop.
    let raw_mode = RawModeGuard::enter();
    let threads = Threads {
        runners,
        control,
        events: rx,
        wake: wake_rx,
        flush_states,
        input,
        raw_terminal: raw_mode.is_some(),
        gdb,
        sink,
        ring_watch,
        watch_halt: layout.irqchip,
    };
    let result = wait::start_and_wait(opts, signals, threads);
    drop(raw_mode);
    let (cause, reports) = result?;
    Ok(wait::report(opts, cause, &reports))
}
