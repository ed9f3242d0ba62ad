//! One virtual machine from start to end: build it in the order KVM requires, run one thread
//! per vCPU, wait for them, and hand their endings back.
//!
//! The steps (api.rst section 3 "general description", and section 4 per ioctl; kvm-hello-world
//! shows them in one screen of C):
//!
//! 1. open /dev/kvm, check KVM_GET_API_VERSION and the capabilities relied on;
//! 2. KVM_CREATE_VM, and KVM_SET_TSS_ADDR (Intel VMX needs it to run real mode);
//! 3. guest RAM: one mmap, and KVM_SET_USER_MEMORY_REGION for each memory slot;
//! 4. the devices, and what layers add once memory exists ([`Layer::after_memory`]: the
//!    in-kernel interrupt controllers, which must come before any vCPU, MMIO devices...);
//! 5. the guest images into RAM ([`Boot::load`]);
//! 6. KVM_CREATE_VCPU for each guest and its first registers ([`Boot::start`]), then what
//!    layers add once every vCPU exists ([`Layer::after_vcpus`]: CPUID, LAPIC state...);
//! 7. one thread per vCPU running vcpu.rs's loop; this thread waits for them, for a signal,
//!    for `--timeout`, and kicks a vCPU whose output has waited a tick.
//!
//! A boot protocol is a [`Boot`] (boot/realmode.rs is the core's; the others are layers), and
//! every feature a [`Layer`]: the steps call them and name none of them.

use crate::cli::Config;
use crate::console::stdin::STDIN;
use crate::console::{self, note, Output, Pending, RawMode};
use crate::devices::{Bus, ByteSource, Ended};
use crate::error::{Ending, Stop};
use crate::explain::no_kvm;
use crate::kvm::bindings::*;
use crate::kvm::{install_kick_handler, Kvm, Vcpu, Vm};
use crate::memory::GuestMemory;
use crate::vcpu::{Control, Later, Report, Runner, VcpuHook, VcpuIo};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use std::io::Read;
use std::os::fd::AsFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where KVM may put the three pages Intel VMX needs for real mode: just below 4 GiB, where no
/// guest RAM of ours ever is.
pub const TSS_ADDR: u64 = 0xFFFB_D000;
/// How often the main thread looks at the vCPUs' output: a byte waits at most about two ticks.
pub const TICK: Duration = Duration::from_millis(20);
/// From a stop request to the exit, at most: 500 ms for the vCPUs to end and write their
/// output, then stderr gets the rest (console.rs). Always under a second.
pub const STOP_BUDGET: Duration = Duration::from_millis(800);
const VCPU_SHARE: Duration = Duration::from_millis(500);
const _: () =
    assert!(STOP_BUDGET.as_millis() < 1000 && VCPU_SHARE.as_millis() < STOP_BUDGET.as_millis());

/// Guest RAM, and the memory slots (guest-physical start, size) that map it.
pub struct Layout {
    pub ram: u64,
    pub slots: Vec<(u64, u64)>,
}

/// A way into the machine: which guests, in what memory, starting in what state.
pub trait Boot: Layer {
    fn layout(&self) -> Layout;
    /// The guests' names (one vCPU each), for messages: "vCPU 0 (hello)".
    fn names(&self) -> Vec<String>;
    /// Step 5: writes the images into guest RAM.
    fn load(&mut self, memory: &GuestMemory) -> Result<(), Ending>;
    /// Step 6: vCPU `index`'s first registers.
    fn start(&self, index: usize, vcpu: &Vcpu) -> Result<(), Ending>;
    /// The vCPUs are the CPUs of one guest, with one console (else one guest each).
    fn one_guest(&self) -> bool {
        false
    }
}

// [tour:layer]
/// What a layer may add to the machine; each method's default adds nothing.
pub trait Layer {
    /// Step 4: once guest memory exists, before any vCPU.
    fn after_memory(&mut self, _m: &mut Setup) -> Result<(), Ending> {
        Ok(())
    }
    /// Step 6: once every vCPU exists with its first registers.
    fn after_vcpus(&mut self, _m: &mut Setup, _vcpus: &mut [Vcpu]) -> Result<(), Ending> {
        Ok(())
    }
    /// This layer's watcher of vCPU `index`'s loop, if it has one.
    fn vcpu_hook(&mut self, _index: usize) -> Option<Box<dyn VcpuHook>> {
        None
    }
    /// Step 7, just before the vCPU threads start.
    fn started(&mut self, _control: &Arc<Control>) -> Result<(), Ending> {
        Ok(())
    }
    /// Every [`TICK`] of the main thread while vCPUs run.
    fn tick(&mut self, _control: &Control) {}
    /// Every vCPU has ended: lines to print after the vCPUs' own (`--stats` of a device...).
    fn finished(&mut self, _reports: &[Report]) -> Vec<String> {
        Vec::new()
    }
}
// [/tour:layer]

/// What the construction steps have built so far, for the layers.
pub struct Setup<'a> {
    pub kvm: &'a Kvm,
    pub vm: &'a Arc<Vm>,
    pub memory: &'a Arc<GuestMemory>,
    pub bus: &'a mut Bus,
}

/// How a run ended: every vCPU's report in the order they ended, and what stopped it from
/// outside, if anything.
pub struct Outcome {
    pub reports: Vec<Report>,
    pub cause: Option<Stop>,
    pub memory: Arc<GuestMemory>,
    /// What the layers have to say at the end.
    pub lines: Vec<String>,
}

/// SIGINT, SIGTERM and SIGHUP (read through a signalfd) and `--timeout`: watched from before
/// the first file is read.
pub struct Stops {
    signals: SignalFd,
    pub deadline: Option<Instant>,
    pub timeout: Option<Duration>,
}

impl Stops {
    /// Blocks the signals in this thread (and so in every thread it starts) for the signalfd.
    pub fn watch(timeout: Option<Duration>) -> Result<Stops, Ending> {
        let set: SigSet = [Signal::SIGINT, Signal::SIGTERM, Signal::SIGHUP].into_iter().collect();
        let fail = |e: nix::Error| Ending::Host(format!("watching for SIGINT/SIGTERM/SIGHUP: {e}"));
        set.thread_block().map_err(fail)?;
        let signals = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(fail)?;
        Ok(Stops { signals, deadline: timeout.map(|t| Instant::now() + t), timeout })
    }

    /// A signal that has arrived, or the deadline if it has passed.
    pub fn check(&self) -> Option<Stop> {
        if let Ok(Some(info)) = self.signals.read_signal() {
            return Some(Stop::Signal(info.ssi_signo as i32));
        }
        let late = self.deadline.is_some_and(|d| Instant::now() >= d);
        late.then(|| Stop::Timeout(self.timeout.unwrap_or_default()))
    }

    /// Between steps: `Err` if a stop has been asked for.
    pub fn between_steps(&self) -> Result<(), Ending> {
        self.check().map_or(Ok(()), |stop| Err(Ending::Stopped(stop)))
    }
}

/// Step 1: the KVM device (`MINI_KVM_DEVICE`, else /dev/kvm), checked.
pub fn open_kvm() -> Result<Kvm, Ending> {
    let device = std::env::var("MINI_KVM_DEVICE").unwrap_or_else(|_| "/dev/kvm".into());
    if device.is_empty() {
        return Err(Ending::NoKvm(
            "MINI_KVM_DEVICE is set but empty: unset it for /dev/kvm".into(),
        ));
    }
    let kvm = Kvm::open(&device).map_err(|e| no_kvm(&device, &e))?;
    let version = kvm.get_api_version().map_err(|e| no_kvm(&device, &e))?;
    if version != KVM_API_VERSION {
        return Err(Ending::NoKvm(format!(
            "{device} speaks KVM API version {version}; mini-kvm needs 12"
        )));
    }
    for (cap, name) in [
        (KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"),
        (KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"),
        (KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"),
    ] {
        if kvm.check_extension(cap) <= 0 {
            return Err(Ending::NoKvm(format!(
                "{device} lacks {name}: mini-kvm needs a KVM from Linux 4.11 or later"
            )));
        }
    }
    note(|| format!("opened {device}: KVM API version {version}"));
    Ok(kvm)
}

/// Builds the machine `boot` describes, with `layers`, and runs it to the end.
pub fn run(
    config: &Config,
    mut boot: Box<dyn Boot>,
    mut layers: Vec<Box<dyn Layer>>,
    mut later: Option<Later>,
    stops: &Stops,
) -> Result<Outcome, Ending> {
    let kvm = open_kvm()?;
    stops.between_steps()?;
    // [tour:steps]
    let vm = Arc::new(kvm.create_vm()?);
    vm.set_tss_addr(TSS_ADDR)?;
    let layout = boot.layout();
    let memory = Arc::new(GuestMemory::new(layout.ram).map_err(|e| Ending::Host(e.to_string()))?);
    for (slot, &(gpa, size)) in layout.slots.iter().enumerate() {
        vm.set_user_memory_region(slot as u32, &memory, gpa, size)?;
    }
    note(|| {
        format!("guest RAM: {} KiB in {} memory slot(s)", layout.ram / 1024, layout.slots.len())
    });
    let mut bus = Bus::new(&STDIN);
    let mut setup = Setup { kvm: &kvm, vm: &vm, memory: &memory, bus: &mut bus };
    boot.after_memory(&mut setup)?;
    for layer in &mut layers {
        layer.after_memory(&mut setup)?;
    }
    boot.load(&memory)?;
    stops.between_steps()?;
    let (names, one_guest) = (boot.names(), boot.one_guest());
    let several = names.len() > 1 && !one_guest;
    let mut vcpus = Vec::with_capacity(names.len());
    for index in 0..names.len() {
        let mut vcpu = vm.create_vcpu(index as u32)?;
        boot.start(index, &vcpu)?;
        if kvm.check_extension(KVM_CAP_SYNC_REGS) as u64 & KVM_SYNC_X86_REGS != 0 {
            vcpu.enable_sync_regs(false);
            if index == 0 {
                note(|| {
                    "KVM_CAP_SYNC_REGS: hypercall registers come from kvm_run, no KVM_GET_REGS"
                        .into()
                });
            }
        }
        vcpus.push(vcpu);
    }
    boot.after_vcpus(&mut setup, &mut vcpus)?;
    for layer in &mut layers {
        layer.after_vcpus(&mut setup, &mut vcpus)?;
    }
    layers.insert(0, boot); // from here on the boot protocol is one more layer
                            // [/tour:steps]
    stops.between_steps()?;
    let bus = Arc::new(bus);
    let weak = Arc::downgrade(&bus); // input wakes COM1's receiver, while the bus lives
    let _ = STDIN.on_arrival.set(Box::new(move || {
        let _ = weak.upgrade().map(|b| b.com1_if_on().map(|mut c| c.input_arrived()));
    }));
    install_kick_handler()
        .map_err(|e| Ending::Host(format!("installing the vCPU kick signal: {e}")))?;
    let (wake, wake_tx) =
        std::io::pipe().map_err(|e| Ending::Host(format!("creating a pipe: {e}")))?;
    let control = Arc::new(Control::new(names.len(), wake_tx));
    let mut pending = Vec::new();
    let mut runners = Vec::new();
    let shared = Arc::new(Mutex::new(Output::new(0, several, config.color)));
    for (index, (vcpu, name)) in vcpus.into_iter().zip(names).enumerate() {
        let out = match one_guest || index == 0 {
            true => Arc::clone(&shared),
            false => Arc::new(Mutex::new(Output::new(index, several, config.color))),
        };
        pending.push(Arc::clone(&out.lock().unwrap_or_else(|e| e.into_inner()).pending));
        let input: &'static dyn ByteSource = if index == 0 || one_guest { &STDIN } else { &Ended };
        let hooks = layers.iter_mut().filter_map(|l| l.vcpu_hook(index)).collect();
        let (bus, memory, control) = (Arc::clone(&bus), Arc::clone(&memory), Arc::clone(&control));
        let io = VcpuIo { bus, out, input, hypercall: Default::default(), claimed: true };
        let runner = Runner { index, name, vcpu, memory, io, control, hooks, later: later.take() };
        runners.push(runner);
    }
    // From here on the terminal may be raw: every way out passes the guard's drop.
    let raw = RawMode::enter();
    if raw.is_some() {
        let c = Arc::clone(&control);
        STDIN.start_raw(Box::new(move || c.request_stop(Some(Stop::Quit))));
    }
    for layer in &mut layers {
        layer.started(&control)?;
    }
    let threads = spawn(runners, &control)?;
    let (reports, cause) = wait(&control, &mut layers, stops, &wake, &pending, threads, one_guest)?;
    drop(raw);
    let lines = layers.iter_mut().flat_map(|l| l.finished(&reports)).collect();
    Ok(Outcome { reports, cause, memory, lines })
}

/// Step 7: a thread per vCPU.
fn spawn(
    runners: Vec<Runner>,
    control: &Arc<Control>,
) -> Result<Vec<std::thread::JoinHandle<()>>, Ending> {
    note(|| format!("starting {} vCPU thread(s)", runners.len()));
    let mut threads = Vec::new();
    for runner in runners {
        let (index, control) = (runner.index, Arc::clone(control));
        let name = runner.name.clone();
        let thread = std::thread::Builder::new().name(format!("vcpu{index}")).spawn(move || {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| runner.run())).is_err() {
                control.register(index, None);
                let ending = Ending::Host("the vCPU thread panicked (a bug in mini-kvm)".into());
                control.report(Report { index, name, ending, lines: Vec::new(), vcpu: None });
            }
        });
        threads.push(thread.map_err(|e| Ending::Host(format!("starting a vCPU thread: {e}")))?);
    }
    Ok(threads)
}

/// The main thread while the vCPUs run: waits for their reports, turns signals and the
/// timeout into stop requests, and every tick kicks a vCPU whose output has waited. The first
/// vCPU to end a guest of several CPUs ends them all.
fn wait(
    control: &Control,
    layers: &mut [Box<dyn Layer>],
    stops: &Stops,
    wake: &std::io::PipeReader,
    pending: &[Arc<Pending>],
    threads: Vec<std::thread::JoinHandle<()>>,
    one_guest: bool,
) -> Result<(Vec<Report>, Option<Stop>), Ending> {
    let mut reports: Vec<Report> = Vec::new();
    // What ended the run first: a stop from outside (`Some`), or a vCPU's own ending (`None`).
    let mut first: Option<Option<Stop>> = None;
    let mut budget: Option<Instant> = None;
    let mut seen = vec![(false, 0); pending.len()];
    let mut next_tick = Instant::now() + TICK;
    while reports.len() < pending.len() && budget.is_none_or(|b| Instant::now() < b) {
        let mut until = next_tick.min(budget.unwrap_or(next_tick));
        if control.cause().is_none() {
            until = until.min(stops.deadline.unwrap_or(until));
        }
        let ms = until.saturating_duration_since(Instant::now()).as_millis() as u16;
        let mut fds = [
            PollFd::new(stops.signals.as_fd(), PollFlags::POLLIN),
            PollFd::new(wake.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::from(ms)) {
            Ok(_) | Err(nix::errno::Errno::EINTR) => {}
            Err(e) => return Err(Ending::Host(format!("waiting for the vCPUs: {e}"))),
        }
        if fds[1].revents().is_some_and(|r| r.contains(PollFlags::POLLIN)) {
            let _ = (&*wake).read(&mut [0u8; 64]); // it has bytes: the read does not block
        }
        if let Some(stop) = stops.check().filter(|_| control.cause().is_none()) {
            control.request_stop(Some(stop));
        }
        for report in control.take_reports() {
            // A vCPU stopped from outside says nothing of its own: the cause below does.
            let own = !matches!(report.ending, Ending::Stopped(_));
            if own && (one_guest || report.ending.stops_the_run()) {
                first.get_or_insert(None); // the run ends as this vCPU did, whatever comes next
                control.request_stop(None); // and the other vCPUs stop
            }
            reports.push(report);
        }
        if let Some(cause) = control.cause() {
            first.get_or_insert(Some(cause));
        }
        if budget.is_none() && control.cause().is_some() {
            let now = Instant::now();
            console::set_deadline(now + STOP_BUDGET);
            budget = Some(now + VCPU_SHARE);
        }
        if Instant::now() >= next_tick {
            next_tick = Instant::now() + TICK;
            for (i, p) in pending.iter().enumerate() {
                let now = p.snapshot();
                if now.0 && now == seen[i] {
                    control.kick(i); // bytes waited a whole tick: the vCPU writes them
                }
                seen[i] = now;
            }
            layers.iter_mut().for_each(|l| l.tick(control));
        }
    }
    if reports.len() == pending.len() {
        threads.into_iter().for_each(|t| drop(t.join()));
    }
    Ok((reports, first.flatten()))
}
