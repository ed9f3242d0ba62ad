//! `--gdb PORT`: debug a guest with a real gdb, over the gdb remote serial protocol. A layer:
//! `main` installs it when the command line asks, and a run without `--gdb` runs none of it.
//!
//! * [`packet`]: framing (`$...#cc`, acks, escapes, Ctrl-C), a tested state machine;
//! * [`command`]: packets to commands, and replies;
//! * [`target`]: the register layouts and the target description gdb asks for;
//! * [`debugger`]: the vCPU side: all-stop parking, stepping and breakpoints over
//!   KVM_SET_GUEST_DEBUG and KVM_TRANSLATE;
//! * [`hook`]: the run loop's side, a `vcpu::VcpuHook` per vCPU: parking, debug exits, steps
//!   that end at an I/O exit;
//! * [`access`]: the vCPU calls the debugger makes (a trait, faked in tests);
//! * [`pagewalk`]: the guest's page tables walked by hand (is an address a user page?);
//! * [`monitor`]: gdb's `monitor` commands (`monitor pagewalk ADDR`: that walk in words);
//! * [`symbols`]: the symbol file for gdb, written where no one else can interfere;
//! * [`clients`]: one client at a time, the next once it has gone, refusals bounded;
//! * [`server`]: the connection, turning gdb's requests into requests to stopped vCPUs;
//! * this file: the layer ([`Gdb`]): the listening socket, what this KVM can do for a
//!   debugger, time while the VM is stopped, and the server's thread.
//!
//! gdb connects before the first guest instruction runs, as with QEMU's `-s -S`.

pub mod access;
pub mod clients;
pub mod command;
pub mod debugger;
pub mod hook;
pub mod monitor;
pub mod packet;
pub mod pagewalk;
pub mod server;
pub mod symbols;
pub mod target;

use crate::cli::Config;
use crate::console::{message, note};
use crate::error::{Ending, Stop};
use crate::guests::DEBUG_SYMBOLS;
use crate::kvm::bindings::{kvm_sregs, KVM_CAP_SYNC_REGS, KVM_SYNC_X86_SREGS};
use crate::kvm::debug::{KVM_CAP_SET_GUEST_DEBUG2, KVM_GUESTDBG_BLOCKIRQ};
use crate::kvm::irqchip::KVM_CAP_REINJECT_CONTROL;
use crate::kvm::{Kvm, Vcpu};
use crate::machine::{Layer, Setup};
use crate::vcpu::{Control, Report, VcpuHook};
use crate::x86::{CR0_PE, CR0_PG, EFER_LMA};
use debugger::{BreakpointMethod, Debugger};
use std::net::{Ipv4Addr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use target::Arch;

/// How long a connected gdb may take to hear how a run that ended by itself ended.
const GDB_HEARS_THE_END: Duration = Duration::from_secs(2);
/// The same after a stop from outside (timeout, signal, Ctrl-A x), within its budget
/// (machine.rs STOP_BUDGET): the vCPUs have ended by now, and gdb is told at once.
const GDB_HEARS_A_STOP: Duration = Duration::from_millis(200);

/// The `--gdb` layer.
pub struct Gdb {
    /// Bound when the command line is read: a port in use is an error before anything is built.
    listener: Option<TcpListener>,
    port: u16,
    /// The file gdb loads symbols from, if there is one.
    symbols: Option<PathBuf>,
    /// The VM has in-kernel interrupt controllers (then KVM runs `hlt` itself).
    irqchip: bool,
    arch: Arch,
    /// Shared with every vCPU's hook and the server, once the vCPUs exist.
    debugger: Option<Arc<Debugger>>,
    /// The server's accept thread, and whether a gdb is connected.
    server: Option<(JoinHandle<()>, Arc<AtomicBool>)>,
}

impl Gdb {
    /// `--gdb PORT`: listens on 127.0.0.1:PORT (0: a port the kernel picks, which the waiting
    /// line names), and finds the symbol file for the first guest.
    pub fn new(config: &Config) -> Result<Gdb, Ending> {
        let port = parse_port(config.value("--gdb").unwrap_or_default())?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .map_err(|e| Ending::Host(format!("--gdb: cannot listen on 127.0.0.1:{port}: {e}")))?;
        // With port 0 the kernel picks a free port: say which (tests use this, so that tests
        // running side by side never race for one).
        let port = listener.local_addr().map_or(port, |a| a.port());
        let symbols = config.guests.first().and_then(|guest| symbol_file(guest));
        Ok(Gdb {
            listener: Some(listener),
            port,
            symbols,
            irqchip: false,
            arch: Arch::X86_64,
            debugger: None,
            server: None,
        })
    }
}

impl Layer for Gdb {
    /// Time while gdb holds the VM: the in-kernel PIT keeps counting while every vCPU is
    /// parked, and by default replays each tick it could not deliver (KVM_REINJECT_CONTROL),
    /// so after a stop of N seconds the guest took N x 100 timer interrupts back to back —
    /// `continue` crawled and the 1K OS's `uptime` jumped by the stop. With reinjection off a
    /// missed tick is dropped: the guest's tick count, its idea of time, stands still while it
    /// is stopped. Single steps also block interrupts (KVM_GUESTDBG_BLOCKIRQ, debugger.rs), so
    /// `stepi` stays in the code stepped instead of entering the timer handler.
    ///
    /// KVM_REINJECT_CONTROL fails with ENXIO on a VM without an in-kernel PIT, which mini-kvm
    /// creates only together with the interrupt controllers (boot/kernel.rs): then nothing
    /// replays ticks, and nothing wakes a `hlt` either, which ends the vCPU.
    fn after_memory(&mut self, m: &mut Setup) -> Result<(), Ending> {
        self.irqchip = match m.vm.reinject_control(false) {
            Ok(()) => {
                note(|| {
                    "gdb: PIT tick reinjection off (KVM_REINJECT_CONTROL): stopped time is not replayed".into()
                });
                true
            }
            Err(e) if e.errno == libc::ENXIO => false,
            Err(e) => {
                let why = match m.kvm.check_extension(KVM_CAP_REINJECT_CONTROL) {
                    0 => "this KVM lacks KVM_CAP_REINJECT_CONTROL".to_string(),
                    _ => e.to_string(),
                };
                message(&format!("mini-kvm: gdb: cannot turn off PIT tick reinjection ({why}): after a stop the guest will catch up on the ticks it missed"));
                true
            }
        };
        Ok(())
    }

    /// Once the vCPUs exist: the register layout gdb gets, the registers KVM copies out at
    /// each exit (the debugger reads them at every I/O exit), what this KVM can do for a
    /// debugger, and the line that tells the user how to connect.
    fn after_vcpus(&mut self, m: &mut Setup, vcpus: &mut [Vcpu]) -> Result<(), Ending> {
        let first = vcpus.first().map(Vcpu::get_sregs).transpose()?;
        self.arch = first.as_ref().map_or(Arch::X86_64, arch_of);
        if m.kvm.check_extension(KVM_CAP_SYNC_REGS) as u64 & KVM_SYNC_X86_SREGS != 0 {
            vcpus.iter_mut().for_each(|v| v.enable_sync_regs(true));
        }
        let port = self.port;
        let symbols =
            self.symbols.as_ref().map(|p| format!(" {}", p.display())).unwrap_or_default();
        message(&format!(
            "mini-kvm: waiting for gdb on 127.0.0.1:{port}; connect with: gdb -ex 'target remote :{port}'{symbols}"
        ));
        let debugger = Debugger::new(vcpus.len(), breakpoint_method(m.kvm));
        learn_host(&debugger, m.kvm, self.arch);
        debugger.set_hlt_ends_vcpu(!self.irqchip);
        debugger.attach_memory(Arc::clone(m.memory));
        self.debugger = Some(Arc::new(debugger));
        Ok(())
    }

    fn vcpu_hook(&mut self, index: usize) -> Option<Box<dyn VcpuHook>> {
        let debugger = Arc::clone(self.debugger.as_ref()?);
        Some(Box::new(hook::DebugHook { index, debugger }))
    }

    /// The server's thread, given what it may do to the run: kick a vCPU, kill the run (gdb's
    /// `k`), see whether the run is stopping. The vCPUs start parked, so nothing runs until
    /// gdb says `continue`.
    fn started(&mut self, control: &Arc<Control>) -> Result<(), Ending> {
        let (Some(listener), Some(debugger)) = (self.listener.take(), &self.debugger) else {
            return Ok(());
        };
        let (kick, kill, stopping) =
            (Arc::clone(control), Arc::clone(control), Arc::clone(control));
        let session = server::Session {
            debugger: Arc::clone(debugger),
            arch: self.arch,
            kick: Box::new(move |i| kick.kick(i)),
            kill: Box::new(move || kill.request_stop(Some(Stop::Killed))),
            vm_stopping: Box::new(move || stopping.stop_requested()),
            leaving: Arc::new(AtomicBool::new(false)),
        };
        let connected = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&connected);
        let thread = std::thread::Builder::new()
            .name("gdb-accept".into())
            .spawn(move || clients::accept_loop(listener, session, flag))
            .map_err(|e| Ending::Host(format!("starting the gdb thread: {e}")))?;
        self.server = Some((thread, connected));
        Ok(())
    }

    /// Lets a connected gdb hear how the run ended (`W00`, `X0b`...) before the process goes.
    fn finished(&mut self, reports: &[Report]) -> Vec<String> {
        if let Some((thread, connected)) = self.server.take() {
            let stopped = reports.iter().any(|r| matches!(r.ending, Ending::Stopped(_)));
            let until = Instant::now() + if stopped { GDB_HEARS_A_STOP } else { GDB_HEARS_THE_END };
            while connected.load(Ordering::SeqCst)
                && !thread.is_finished()
                && Instant::now() < until
            {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Vec::new()
    }
}

/// `--gdb`'s value: a TCP port, as `1234` or as gdb writes it, `:1234`; 0 for any free one.
pub fn parse_port(text: &str) -> Result<u16, Ending> {
    text.trim_start_matches(':').parse::<u16>().map_err(|_| {
        Ending::Usage(format!(
            "--gdb needs a TCP port (1-65535, or 0 for any free one), not '{text}'"
        ))
    })
}

/// The file gdb should load symbols from: for a built-in guest its symbol file, written
/// safely to the cache directory (symbols.rs); a guest file that is an ELF itself.
fn symbol_file(guest: &str) -> Option<PathBuf> {
    if let Some(builtin) = crate::guests::builtin(guest) {
        let (_, bytes) = DEBUG_SYMBOLS.iter().find(|(name, _)| *name == builtin.name)?;
        return symbols::for_builtin(builtin.name, bytes, Path::new(env!("MINI_KVM_OS_1K_ELF")));
    }
    let mut magic = [0u8; 4];
    let read =
        std::fs::File::open(guest).and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic));
    (read.is_ok() && magic == *b"\x7fELF").then(|| PathBuf::from(guest))
}

/// The register layout gdb is given, from the state the boot protocol starts the first vCPU
/// in: 16-bit for real mode, 32-bit for 32-bit paging (the C VMM's paging kernels), 64-bit for
/// long mode and for protected mode with paging off (a Multiboot kernel, which may go on to
/// long mode). The target description is fixed for the session.
fn arch_of(sregs: &kvm_sregs) -> Arch {
    match (sregs.cr0 & CR0_PE != 0, sregs.cr0 & CR0_PG != 0, sregs.efer & EFER_LMA != 0) {
        (false, _, _) => Arch::I8086,
        (true, true, false) => Arch::I386,
        _ => Arch::X86_64,
    }
}

/// How breakpoints work on this host, found out once: can a debugger see `int3`?
pub fn breakpoint_method(kvm: &Kvm) -> BreakpointMethod {
    let method = match crate::hostcheck::software_breakpoints_work(kvm) {
        Ok(true) => BreakpointMethod::Int3,
        _ => BreakpointMethod::SingleStep,
    };
    note(|| {
        match method {
        BreakpointMethod::Int3 => "gdb: breakpoints patch int3 (this KVM reports it)".into(),
        BreakpointMethod::SingleStep => "gdb: this KVM does not report int3: up to 4 breakpoints go in debug registers where it reports those, more by single-stepping".into(),
    }
    });
    method
}

/// What the debugger must know of this KVM before gdb connects: whether steps can run with
/// interrupts blocked, and, where breakpoints single-step, how many debug registers it
/// reports and whether it can step ring-3 code at all (probes of a few ms each).
fn learn_host(debugger: &Debugger, kvm: &Kvm, arch: Arch) {
    let debug_flags = kvm.check_extension(KVM_CAP_SET_GUEST_DEBUG2) as u32;
    let block_irq = debug_flags & KVM_GUESTDBG_BLOCKIRQ != 0;
    debugger.block_irq_in_steps.store(block_irq, Ordering::Relaxed);
    if debugger.method != BreakpointMethod::SingleStep {
        return;
    }
    // Up to four breakpoints in debug registers, where this KVM reports them (a probe of a few
    // ms): they trap in any ring and need no stepping.
    let hw = crate::hostcheck::hardware_breakpoints(kvm);
    debugger.hw_breakpoints.store(hw, Ordering::Relaxed);
    note(|| format!("gdb: {hw} breakpoints in debug registers (KVM_GUESTDBG_USE_HW_BP)"));
    if arch != Arch::I8086 {
        // Only a guest with paging can have user pages; probe once (a few ms).
        let ring3 = crate::hostcheck::steps_in_ring3(kvm);
        debugger.steps_in_ring3.store(ring3, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests;
