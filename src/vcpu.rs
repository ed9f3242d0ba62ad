//! A vCPU's thread: enter the guest with KVM_RUN, find out why it left, act, repeat.
//!
//! This loop is the heart of every VMM (api.rst 4.10 KVM_RUN, section 5 `struct kvm_run`). One
//! thread runs it per vCPU. [`Runner::handle`] is the one place that decides what an exit
//! means. The hot path, a guest `out` to a port, does this and no more: KVM_RUN returns; the
//! reason and the port are read from the shared page; the bus `match`es the port; the device
//! updates its state (the hypercall port reads AL and BL from the registers KVM copied into the
//! same page: no KVM_GET_REGS); a printed byte goes into the vCPU's buffer. No allocation, no
//! ioctl but KVM_RUN, no lock held across KVM_RUN.
//!
//! Layers watch the loop through [`VcpuHook`]s (tracing, statistics, gdb, coalescing...),
//! installed by `main` when a run asks for them; a run that asks for none runs none.
//! [`Control`] is what the threads of a run share: stop requests, kicks, and the reports that
//! vCPU threads send the main thread when they end.

use crate::console::Output;
use crate::devices::hypercall::{Hypercall, HypercallPort, HYPERCALL_PORT};
use crate::devices::{Bus, ByteSink, ByteSource};
use crate::error::{Ending, Fault, Off, Stop, Why};
use crate::kvm::bindings::kvm_regs;
use crate::kvm::{Exit, Kick, Vcpu};
use crate::memory::GuestMemory;
use std::io::Write as _;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

// [tour:vcpu-hook]
/// A layer's view of one vCPU's loop. Every method has a default that does nothing.
pub trait VcpuHook: Send {
    /// Before each KVM_RUN: `Some` ends the loop (a debugger may park the vCPU here).
    fn before_run(&mut self, _cpu: &mut Runner) -> Option<Ending> {
        None
    }
    /// KVM_RUN returned, before the loop handles the exit: `true` claims it (the loop then
    /// leaves it alone); coalescing applies its ring here, first.
    fn on_exit(&mut self, _cpu: &mut Runner, _exit: &Exit) -> Result<bool, Ending> {
        Ok(false)
    }
    /// After the exit was handled: `next` is what happens now (`None`: run on), and a layer may
    /// change it.
    fn after_exit(&mut self, _cpu: &mut Runner, _exit: &Exit, _next: &mut Option<Ending>) {}
    /// The loop ended with `ending`; lines to print for this vCPU at the end of the run.
    fn end(&mut self, _cpu: &mut Runner, _ending: &mut Ending, _lines: &mut Vec<String>) {}
}
// [/tour:vcpu-hook]

/// What one vCPU's thread owns and shares.
pub struct Runner {
    pub index: usize,
    /// The guest's name, for messages: "vCPU 0 (hello)".
    pub name: String,
    pub vcpu: Vcpu,
    pub memory: Arc<GuestMemory>,
    /// The devices; the output may be shared with the other vCPUs of one kernel.
    pub io: VcpuIo<Arc<Mutex<Output>>>,
    pub control: Arc<Control>,
    pub hooks: Vec<Box<dyn VcpuHook>>,
    /// A layer that attaches itself later (coalescing), if any.
    pub later: Option<Later>,
}

/// The devices as one vCPU sees them: the VM's bus, its own output `O` (stdout's buffer; a
/// Vec in tests), input and hypercall port.
pub struct VcpuIo<O> {
    pub bus: Arc<Bus>,
    pub out: O,
    /// stdin for vCPU 0; for the others an input that has ended.
    pub input: &'static dyn ByteSource,
    pub hypercall: HypercallPort,
    /// Whether a device took the last port or MMIO access (for the layers that count them).
    pub claimed: bool,
}

/// A layer that attaches itself to the loop, first of the hooks, once the guest has written
/// port `port` `after` times: until then it costs nothing.
pub struct Later {
    pub port: u16,
    pub after: u32,
    pub attach: Attach,
}

/// How a [`Later`] layer attaches: its hook, if it can work on this vCPU.
pub type Attach = Box<dyn FnOnce(&mut Runner) -> Option<Box<dyn VcpuHook>> + Send>;

/// How a vCPU ended, for the main thread.
pub struct Report {
    pub index: usize,
    pub name: String,
    pub ending: Ending,
    /// What the layers have to say about this vCPU (statistics, recent exits...).
    pub lines: Vec<String>,
    /// The vCPU itself, for a crash report (`None` if its thread panicked).
    pub vcpu: Option<Vcpu>,
}

impl Runner {
    /// The thread's body: runs until the vCPU ends, then reports to the main thread.
    pub fn run(mut self) {
        self.control.register(self.index, Some(self.vcpu.kick_from_other_threads()));
        let mut ending = self.run_loop();
        let written = self.io.out.lock().unwrap_or_else(|e| e.into_inner()).finish();
        if let (Err(lost), Ending::Halted | Ending::Exit(_) | Ending::Off(_)) = (written, &ending) {
            ending = lost; // a guest that ended well, but whose output was lost: status 1
        }
        let mut lines = Vec::new();
        self.each_hook(|hook, cpu| hook.end(cpu, &mut ending, &mut lines));
        self.control.register(self.index, None);
        let Runner { index, name, vcpu, control, .. } = self;
        control.report(Report { index, name, ending, lines, vcpu: Some(vcpu) });
    }

    /// Calls `f` on every hook, each with the runner (hooks are empty in most runs).
    fn each_hook(&mut self, mut f: impl FnMut(&mut dyn VcpuHook, &mut Runner)) {
        if self.hooks.is_empty() {
            return;
        }
        let mut hooks = std::mem::take(&mut self.hooks);
        hooks.iter_mut().for_each(|hook| f(hook.as_mut(), self));
        self.hooks = hooks;
    }

    // [tour:run-loop]
    /// Enter the guest, handle the exit, repeat, until the vCPU is done.
    fn run_loop(&mut self) -> Ending {
        loop {
            if self.control.stop_requested() {
                return Ending::Stopped(self.control.cause().unwrap_or(Stop::Quit));
            }
            let mut next = None;
            self.each_hook(|hook, cpu| next = next.take().or_else(|| hook.before_run(cpu)));
            if let Some(ending) = next {
                return ending;
            }
            let exit = match self.vcpu.run() {
                Ok(exit) => exit,
                Err(e) => return e.into(),
            };
            let (mut claimed, mut failed) = (false, None);
            self.each_hook(|hook, cpu| match failed.is_none().then(|| hook.on_exit(cpu, &exit)) {
                Some(Ok(mine)) => claimed |= mine,
                Some(Err(ending)) => failed = Some(ending),
                None => {}
            });
            next = match (failed, claimed) {
                (Some(ending), _) => Some(ending),
                (None, true) => None,
                (None, false) => self.handle(exit).err(),
            };
            self.each_hook(|hook, cpu| hook.after_exit(cpu, &exit, &mut next));
            if let Some(ending) = next {
                return self.locate(ending, exit);
            }
        }
    }
    // [/tour:run-loop]

    /// One exit, handled: the registers and bytes it needs from the vCPU, then [`handle_exit`].
    fn handle(&mut self, exit: Exit) -> Result<(), Ending> {
        let regs = match exit {
            Exit::Io { out: true, port: HYPERCALL_PORT, .. } => Some(self.vcpu.regs_at_exit()?),
            Exit::Interrupted => return self.kicked(),
            _ => None,
        };
        let mmio = handle_exit(exit, self.vcpu.io_data(), regs, &mut self.io)?;
        if let Some(answer) = mmio {
            self.vcpu.set_mmio_data(answer);
        }
        match (&mut self.later, exit) {
            (Some(l), Exit::Io { out: true, port, .. }) if l.port == port => l.after -= 1,
            _ => return Ok(()),
        }
        if self.later.as_ref().is_some_and(|l| l.after == 0) {
            let attach = self.later.take().map(|l| l.attach);
            if let Some(hook) = attach.and_then(|attach| attach(self)) {
                self.hooks.insert(0, hook);
            }
        }
        Ok(())
    }

    /// A kick from the main thread: a stop (the loop sees it next), or output that waited a
    /// tick, which is written now.
    fn kicked(&mut self) -> Result<(), Ending> {
        self.vcpu.set_immediate_exit(false);
        self.io.out.flush()
    }

    /// A fault gets the exit that caused it and, where it has none yet, the registers then.
    fn locate(&self, ending: Ending, exit: Exit) -> Ending {
        let Ending::Fault(Fault { why, at, .. }) = ending else { return ending };
        let now = || {
            Ok::<_, crate::kvm::KvmError>(Box::new((
                self.vcpu.regs_at_exit()?,
                self.vcpu.get_sregs()?,
            )))
        };
        Ending::Fault(Fault { why, at: at.or_else(|| now().ok()), exit: Some(Box::new(exit)) })
    }
}

// [tour:handle-exit]
/// What one exit means: `Ok` to run on (with the answer to an MMIO load), `Err` with how the
/// vCPU ends. `data` is a port exit's bytes (in kvm_run's page), `regs` the registers of a
/// hypercall. A plain function of the exit and the devices, so tests can feed it exits.
pub fn handle_exit<O: ByteSink>(
    exit: Exit,
    data: &mut [u8],
    regs: Option<kvm_regs>,
    io: &mut VcpuIo<O>,
) -> Result<Option<[u8; 8]>, Ending> {
    io.claimed = true;
    match exit {
        Exit::Io { out: true, port: HYPERCALL_PORT, count, .. } => {
            let regs = regs.unwrap_or_default();
            let call = Hypercall::decode(regs.rax as u8, regs.rbx as u8);
            for _ in 0..count {
                io.hypercall.call(call, &mut io.out, io.input)?;
            }
        }
        Exit::Io { out: false, port: HYPERCALL_PORT, size, .. } => {
            for access in data.chunks_mut(usize::from(size.max(1))) {
                access.fill(0);
                access[0] = io.hypercall.read();
            }
        }
        Exit::Io { out: true, port, size, .. } => {
            io.claimed = io.bus.port_out(port, size, data, &mut io.out)?
        }
        Exit::Io { out: false, port, size, .. } => io.claimed = io.bus.port_in(port, size, data),
        Exit::Mmio { addr, len, write: true, data } => {
            io.claimed = io.bus.mmio_write(addr, &data[..usize::from(len)])
        }
        Exit::Mmio { addr, len, write: false, .. } => {
            let mut answer = [0u8; 8];
            io.claimed = io.bus.mmio_read(addr, &mut answer[..usize::from(len)]);
            return Ok(Some(answer));
        }
        Exit::Hlt | Exit::SystemEvent { kind: 1 } => return Err(Ending::Halted),
        Exit::Interrupted => {}
        // KVM_EXIT_SYSTEM_EVENT (api.rst 5): 1 shutdown, 2 reset, 3 crash.
        Exit::SystemEvent { kind: 2 } => return Err(Ending::Off(Off::SystemReset)),
        Exit::SystemEvent { kind: 3 } => return Err(Ending::fault(Why::Crash)),
        Exit::Shutdown => return Err(Ending::fault(Why::TripleFault)),
        Exit::FailEntry { reason, cpu } => {
            return Err(Ending::fault(Why::FailEntry { reason, cpu }))
        }
        Exit::InternalError { suberror, ndata, data } => {
            return Err(Ending::fault(Why::Internal {
                suberror,
                data: data[..ndata as usize].to_vec(),
            }))
        }
        Exit::Debug { exception, pc } => return Err(Ending::fault(Why::Debug { exception, pc })),
        Exit::Malformed { why, .. } => {
            return Err(Ending::Host(format!("malformed {} from KVM: {why}", exit.name())))
        }
        Exit::SystemEvent { .. } | Exit::Other(_) => {
            return Err(Ending::fault(Why::Unexpected(exit.name())))
        }
    }
    Ok(None)
}
// [/tour:handle-exit]

/// What the threads of one run share: whether to stop and why, a kick for each running vCPU,
/// and the reports of the vCPUs that ended, with a pipe that wakes the main thread.
pub struct Control {
    stop: AtomicBool,
    cause: Mutex<Option<Stop>>,
    kicks: Mutex<Vec<Option<Kick>>>,
    reports: Mutex<Vec<Report>>,
    wake: std::io::PipeWriter,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Control {
    /// For `vcpus` vCPUs; writing to `wake` wakes the main thread.
    pub fn new(vcpus: usize, wake: std::io::PipeWriter) -> Control {
        let kicks = Mutex::new((0..vcpus).map(|_| None).collect());
        Control {
            stop: AtomicBool::new(false),
            cause: Mutex::new(None),
            kicks,
            reports: Mutex::default(),
            wake,
        }
    }

    /// A vCPU thread starts (`Some`: its kick) or ends (`None`), under the kicks' lock, so
    /// that no kick is ever sent to a thread that is gone.
    pub fn register(&self, index: usize, kick: Option<Kick>) {
        lock(&self.kicks)[index] = kick;
    }

    /// Kicks vCPU `index` out of KVM_RUN, if it runs.
    pub fn kick(&self, index: usize) {
        if let Some(Some(kick)) = lock(&self.kicks).get(index) {
            kick.kick();
        }
    }

    /// Asks every vCPU to stop (the first `cause` given is kept), and wakes the main thread.
    // [tour:request-stop]
    pub fn request_stop(&self, cause: Option<Stop>) {
        if let Some(cause) = cause {
            lock(&self.cause).get_or_insert(cause);
        }
        self.stop.store(true, Ordering::SeqCst);
        for kick in lock(&self.kicks).iter().flatten() {
            kick.kick();
        }
        let _ = (&self.wake).write(&[1]);
    }
    // [/tour:request-stop]

    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }

    /// Why the run was asked to stop from outside, if it was.
    pub fn cause(&self) -> Option<Stop> {
        *lock(&self.cause)
    }

    /// A vCPU ended: its report for the main thread.
    pub fn report(&self, report: Report) {
        lock(&self.reports).push(report);
        let _ = (&self.wake).write(&[1]);
    }

    /// The reports sent since the last call, in the order they came.
    pub fn take_reports(&self) -> Vec<Report> {
        std::mem::take(&mut *lock(&self.reports))
    }
}

#[cfg(test)]
mod tests;
