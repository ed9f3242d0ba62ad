//! `--gdb PORT`: debug a guest with a real gdb, over the gdb remote serial protocol.
//!
//! * [`packet`]: framing (`$...#cc`, acks, escapes, Ctrl-C), a tested state machine;
//! * [`command`]: packets to commands, and replies;
//! * [`target`]: the register layouts and the target description gdb asks for;
//! * [`debugger`]: the vCPU side: all-stop parking, stepping and breakpoints over
//!   KVM_SET_GUEST_DEBUG and KVM_TRANSLATE;
//! * [`access`]: the vCPU calls the debugger makes (a trait, faked in tests);
//! * [`pagewalk`]: the guest's page tables walked by hand (is an address a user page?);
//! * [`monitor`]: gdb's `monitor` commands (`monitor pagewalk ADDR`: that walk in words);
//! * [`symbols`]: the symbol file for gdb, written where no one else can interfere;
//! * [`clients`]: one client at a time, the next once it has gone, refusals bounded;
//! * [`server`]: the connection, turning gdb's requests into requests to stopped vCPUs.
//!
//! gdb connects before the first guest instruction runs, as with QEMU's `-s -S`.

pub mod access;
pub mod clients;
pub mod command;
pub mod debugger;
pub mod monitor;
pub mod packet;
pub mod pagewalk;
pub mod server;
pub mod symbols;
pub mod target;

use crate::boot::Plan;
use crate::error::Error;
use crate::guests::{Image, DEBUG_SYMBOLS};
use crate::kvm::Kvm;
use debugger::{BreakpointMethod, Debugger};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use target::Arch;

/// How breakpoints work on this host, found out once: can a debugger see `int3`?
pub fn breakpoint_method(kvm: &Kvm) -> BreakpointMethod {
    match crate::hostcheck::software_breakpoints_work(kvm) {
        Ok(true) => BreakpointMethod::Int3,
        _ => BreakpointMethod::SingleStep,
    }
}

/// The file gdb should load symbols from: a guest file that is an ELF itself, or for a
/// built-in guest its symbol file, written safely to the cache directory (symbols.rs).
pub fn symbol_file(image: &Image) -> Option<PathBuf> {
    if let crate::guests::Origin::File(path) = &image.origin {
        return image
            .bytes
            .starts_with(b"\x7fELF")
            .then(|| PathBuf::from(path));
    }
    let (_, bytes) = DEBUG_SYMBOLS.iter().find(|(name, _)| *name == image.name)?;
    symbols::for_builtin(
        &image.name,
        bytes,
        std::path::Path::new(env!("MINI_KVM_OS_1K_ELF")),
    )
}

/// Time while gdb holds the VM: the in-kernel PIT keeps counting while every vCPU is parked,
/// and by default replays each tick it could not deliver (KVM_REINJECT_CONTROL), so after a
/// stop of N seconds the guest took N x 100 timer interrupts back to back — `continue` crawled
/// and the 1K OS's `uptime` jumped by the stop. With reinjection off a missed tick is dropped:
/// the guest's tick count, its idea of time, stands still while it is stopped. Single steps
/// also block interrupts (KVM_GUESTDBG_BLOCKIRQ, debugger.rs), so `stepi` stays in the code
/// stepped instead of entering the timer handler.
pub fn freeze_missed_ticks(kvm: &Kvm, vm: &crate::kvm::Vm) {
    use crate::kvm::bindings::KVM_CAP_REINJECT_CONTROL;
    let result = if kvm.check_extension(KVM_CAP_REINJECT_CONTROL).unwrap_or(0) > 0 {
        vm.set_pit_reinject(false).map_err(|e| e.to_string())
    } else {
        Err("KVM_CAP_REINJECT_CONTROL missing".into())
    };
    match result {
        Ok(()) => crate::log::note(|| {
            "gdb: PIT tick reinjection off (KVM_REINJECT_CONTROL): stopped time is not replayed"
                .into()
        }),
        Err(why) => diag!(
            "mini-kvm: gdb: cannot turn off PIT tick reinjection ({why}): after a stop the \
             guest will catch up on the ticks it missed"
        ),
    }
}

/// What `--gdb` needs once the vCPUs run.
pub struct GdbSetup {
    /// Shared with every vCPU (each sees it as a vcpu::DebugHook).
    pub debugger: Arc<Debugger>,
    listener: TcpListener,
    arch: Arch,
}

/// Listens on 127.0.0.1:PORT and tells the user how to connect. The vCPUs start parked, so
/// nothing runs until gdb says `continue`.
pub fn prepare(
    kvm: &Kvm,
    port: u16,
    plan: &Plan,
    image: &Image,
    vcpus: usize,
) -> Result<GdbSetup, Error> {
    let method = breakpoint_method(kvm);
    crate::log::note(|| match method {
        BreakpointMethod::Int3 => "gdb: breakpoints patch int3 (this KVM reports it)".into(),
        BreakpointMethod::SingleStep => "gdb: this KVM does not report int3: up to 4 \
            breakpoints go in debug registers where it reports those, more by single-stepping"
            .into(),
    });
    let listener = TcpListener::bind(std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .map_err(|e| Error::Host(format!("--gdb: cannot listen on 127.0.0.1:{port}: {e}")))?;
    // With port 0 the kernel picks a free port: say which (tests use this, so that tests
    // running side by side never race for one).
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    let arch = arch_of(plan);
    let symbols = symbol_file(image)
        .map(|p| format!(" {}", p.display()))
        .unwrap_or_default();
    diag!(
        "mini-kvm: waiting for gdb on 127.0.0.1:{port}; connect with: \
         gdb -ex 'target remote :{port}'{symbols}"
    );
    let debugger = Debugger::new(vcpus, method);
    learn_host(&debugger, kvm, arch);
    // Only the Multiboot layout has an in-kernel PIC and LAPIC (boot/plan.rs); elsewhere `hlt`
    // ends the vCPU.
    debugger.set_hlt_ends_vcpu(!plan.layout(vcpus).irqchip);
    Ok(GdbSetup {
        debugger: Arc::new(debugger),
        listener,
        arch,
    })
}

/// The register layout gdb is given for a boot plan's guest: 16-bit for real mode, 32-bit for
/// the seed's paging kernels, 64-bit for every plan that can reach long mode (the target
/// description is fixed for the session).
fn arch_of(plan: &Plan) -> Arch {
    match plan {
        Plan::Real => Arch::I8086,
        Plan::Paging { .. } => Arch::I386,
        Plan::Long | Plan::Multiboot { .. } | Plan::Linux(_) => Arch::X86_64,
    }
}

/// What the debugger must know of this KVM before gdb connects: whether steps can run with
/// interrupts blocked, and, where breakpoints single-step, how many debug registers it
/// reports and whether it can step ring-3 code at all (probes of a few ms each).
fn learn_host(debugger: &Debugger, kvm: &Kvm, arch: Arch) {
    let debug_flags = kvm
        .check_extension(crate::kvm::bindings::KVM_CAP_SET_GUEST_DEBUG2)
        .unwrap_or(0) as u32;
    let block_irq = debug_flags & crate::kvm::bindings::KVM_GUESTDBG_BLOCKIRQ != 0;
    debugger
        .block_irq_in_steps
        .store(block_irq, Ordering::Relaxed);
    if debugger.method != BreakpointMethod::SingleStep {
        return;
    }
    // Up to four breakpoints in debug registers, where this KVM reports them (a probe of a few
    // ms): they trap in any ring and need no stepping.
    let hw = crate::hostcheck::hardware_breakpoints(kvm);
    debugger.hw_breakpoints.store(hw, Ordering::Relaxed);
    crate::log::note(|| {
        format!("gdb: {hw} breakpoints in debug registers (KVM_GUESTDBG_USE_HW_BP)")
    });
    if arch != Arch::I8086 {
        // Only a guest with paging can have user pages; probe once (a few ms).
        let ring3 = crate::hostcheck::steps_in_ring3(kvm);
        debugger.steps_in_ring3.store(ring3, Ordering::Relaxed);
    }
}

/// What the gdb thread may do to the VM as a whole (machine/control.rs provides them).
pub struct VmControls {
    /// Kicks vCPU i out of KVM_RUN (so it notices a stop request).
    pub kick: Box<dyn Fn(usize) + Send>,
    /// Stops the whole VM (gdb's `k`).
    pub kill: Box<dyn Fn() + Send>,
    /// Has the VM been stopped for another reason (timeout, signal)?
    pub vm_stopping: Box<dyn Fn() -> bool + Send>,
}

/// Accepts gdb connections (on its own thread) and serves them one at a time
/// ([`clients`]); the flag says whether a gdb is connected.
pub fn spawn_server(
    gdb: GdbSetup,
    vm: VmControls,
) -> std::io::Result<(std::thread::JoinHandle<()>, Arc<AtomicBool>)> {
    let connected = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&connected);
    let session = server::Session {
        debugger: gdb.debugger,
        arch: gdb.arch,
        kick: vm.kick,
        kill: vm.kill,
        vm_stopping: vm.vm_stopping,
        leaving: Arc::new(AtomicBool::new(false)),
    };
    let listener = gdb.listener;
    let thread = std::thread::Builder::new()
        .name("gdb-accept".into())
        .spawn(move || clients::accept_loop(listener, session, flag))?;
    Ok((thread, connected))
}
