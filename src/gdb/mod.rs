//! `--gdb PORT`: debug a guest with a real gdb, over the gdb remote serial protocol.
//!
//! * [`packet`]: framing (`$...#cc`, acks, escapes, Ctrl-C), a tested state machine;
//! * [`command`]: packets to commands, and replies;
//! * [`target`]: the register layouts and the target description gdb asks for;
//! * [`debugger`]: the vCPU side: all-stop parking, stepping and breakpoints over
//!   KVM_SET_GUEST_DEBUG and KVM_TRANSLATE;
//! * [`access`]: the vCPU calls the debugger makes (a trait, faked in tests);
//! * [`pagewalk`]: the guest's page tables walked by hand (is an address a user page?);
//! * [`server`]: the connection, turning gdb's requests into requests to stopped vCPUs.
//!
//! gdb connects before the first guest instruction runs, as with QEMU's `-s -S`.

pub mod access;
pub mod command;
pub mod debugger;
pub mod packet;
pub mod pagewalk;
pub mod server;
pub mod target;

use crate::boot::Plan;
use crate::control::{Control, Event};
use crate::error::Error;
use crate::guests::{Image, DEBUG_SYMBOLS};
use crate::kvm::Kvm;
use crate::vcpu::VcpuReport;
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
/// built-in guest its symbol file, written to the cache directory.
pub fn symbol_file(image: &Image) -> Option<PathBuf> {
    if image.origin != "embedded" {
        return image
            .bytes
            .starts_with(b"\x7fELF")
            .then(|| PathBuf::from(&image.origin));
    }
    let (_, bytes) = DEBUG_SYMBOLS.iter().find(|(name, _)| *name == image.name)?;
    let dir = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("mini-kvm");
    let path = dir.join(format!("{}.elf", image.name));
    let current = std::fs::read(&path).ok();
    if current.as_deref() != Some(*bytes) {
        std::fs::create_dir_all(&dir).ok()?;
        std::fs::write(&path, bytes).ok()?;
    }
    Some(path)
}

/// What `--gdb` needs once the vCPUs run.
pub struct GdbSetup {
    /// Shared with every vCPU (see vcpu.rs DebugHandle).
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
    verbose: bool,
) -> Result<GdbSetup, Error> {
    let method = breakpoint_method(kvm);
    crate::machine::note(verbose, || match method {
        BreakpointMethod::Int3 => "gdb: breakpoints patch int3 (this KVM reports it)".into(),
        BreakpointMethod::SingleStep => "gdb: breakpoints by single-stepping: this KVM does not \
            report int3 and has no hardware breakpoints"
            .into(),
    });
    let listener = TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| Error::Host(format!("--gdb: cannot listen on 127.0.0.1:{port}: {e}")))?;
    // With port 0 the kernel picks a free port: say which (tests use this, so that tests
    // running side by side never race for one).
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    let arch = match plan {
        Plan::Real => Arch::I8086,
        Plan::Paging { .. } => Arch::I386,
        Plan::Long | Plan::Multiboot { .. } => Arch::X86_64,
    };
    let symbols = symbol_file(image)
        .map(|p| format!(" {}", p.display()))
        .unwrap_or_default();
    diag!(
        "mini-kvm: waiting for gdb on 127.0.0.1:{port}; connect with: \
         gdb -ex 'target remote :{port}'{symbols}"
    );
    let debugger = Debugger::new(vcpus, method);
    // Only the Multiboot layout has an in-kernel PIC and LAPIC (boot/mod.rs); elsewhere `hlt`
    // ends the vCPU.
    debugger.set_hlt_ends_vcpu(!plan.layout(vcpus).irqchip);
    if arch != Arch::I8086 && method == BreakpointMethod::SingleStep {
        // Only a guest with paging can have user pages; probe once (a few ms).
        let ring3 = crate::hostcheck::steps_in_ring3(kvm);
        debugger.steps_in_ring3.store(ring3, Ordering::Relaxed);
    }
    Ok(GdbSetup {
        debugger: Arc::new(debugger),
        listener,
        arch,
    })
}

/// Answers every later connection with an error packet naming the reason (`E.text`, gdb
/// manual "Standard Replies"), and says so on stderr; the first client keeps its session.
fn refuse_others(listener: &TcpListener, first: std::net::SocketAddr) {
    use std::io::{Read, Write};
    while let Ok((mut stream, peer)) = listener.accept() {
        diag!(
            "mini-kvm: gdb: refused a second connection from {peer}: gdb at {first} is \
             already connected (one client at a time)"
        );
        let _ = stream.set_read_timeout(Some(std::time::Duration::from_secs(2)));
        // Wait for the client's first packet, so the refusal is its answer.
        let mut buf = [0u8; 512];
        let mut seen = Vec::new();
        while !seen.contains(&b'#') {
            match stream.read(&mut buf) {
                Ok(n) if n > 0 => seen.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        let text = format!("E.mini-kvm: another gdb ({first}) is already connected");
        let mut reply = b"+".to_vec();
        reply.extend(packet::encode_packet(text.as_bytes()));
        let _ = stream.write_all(&reply);
    }
}

/// Accepts one gdb connection (on its own thread) and serves it; the flag says whether gdb is
/// connected.
pub fn spawn_server(
    gdb: GdbSetup,
    control: &Arc<Control<VcpuReport>>,
    verbose: bool,
) -> std::io::Result<(std::thread::JoinHandle<()>, Arc<AtomicBool>)> {
    let (kick, kill, stopping) = (
        Arc::clone(control),
        Arc::clone(control),
        Arc::clone(control),
    );
    let connected = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&connected);
    let thread = std::thread::Builder::new()
        .name("gdb".into())
        .spawn(move || {
            let Ok((stream, peer)) = gdb.listener.accept() else {
                return;
            };
            flag.store(true, Ordering::SeqCst);
            crate::machine::note(verbose, || format!("gdb connected from {peer}"));
            // One client at a time: later ones are told so, not left hanging.
            let listener = gdb.listener;
            let _ = std::thread::Builder::new()
                .name("gdb-refuse".into())
                .spawn(move || refuse_others(&listener, peer));
            server::serve(
                stream,
                server::Session {
                    debugger: gdb.debugger,
                    arch: gdb.arch,
                    kick: Box::new(move |i| kick.kick(i)),
                    kill: Box::new(move || kill.send(Event::Killed)),
                    vm_stopping: Box::new(move || stopping.stop_requested()),
                    verbose,
                },
            );
            flag.store(false, Ordering::SeqCst);
        })?;
    Ok((thread, connected))
}
