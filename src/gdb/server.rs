//! The gdb side of `--gdb`: a TCP connection speaking the remote serial protocol, turned into
//! requests to the stopped vCPUs (see [`super::debugger`]).
//!
//! Reference: the gdb manual, appendix "Remote Protocol": "Overview" (packets, acks), "Stop
//! Replies", "General Query Packets" (qSupported, qXfer:features:read, thread queries), "Packets"
//! (g/G/p/P/m/M/c/s/vCont/Z/z/H/T/k/D) and "Interrupts" (a raw 0x03 byte stops the target).
//! Threads are vCPUs: gdb thread id N is vCPU N-1 (id 0 means "any" to gdb).
//!
//! Everything from the socket is untrusted: a malformed packet gets an error reply or the empty
//! reply ("not supported"), never a panic; a closed connection detaches and lets the guest run.

use super::command::{self, Command, ThreadId, VContAction};
use super::debugger::{Debugger, Reply, Request, StopReason};
use super::packet::hex_encode;
use super::packet::{encode_packet, Event, PacketReader};
use super::target::{self, Arch, Registers};
use crate::console::{message, verbose};
use crate::kvm::bindings::{kvm_regs, kvm_sregs};
use std::io::ErrorKind::{Interrupted, TimedOut, WouldBlock};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

mod breakpoints;
mod monitor;
mod threads;

/// What the server needs from the rest of the VMM.
pub struct Session {
    pub debugger: Arc<Debugger>,
    pub arch: Arch,
    /// Kicks vCPU i out of KVM_RUN (so it notices a stop request).
    pub kick: Box<dyn Fn(usize) + Send>,
    /// Stops the whole VM (gdb's `k`).
    pub kill: Box<dyn Fn() + Send>,
    /// Has the VM been stopped for another reason (timeout, signal)?
    pub vm_stopping: Box<dyn Fn() -> bool + Send>,
    /// Set once the session is ending (`D`, `k`, a closed connection, the VM's end), before the
    /// last reply: the next client then waits for the session instead of being refused
    /// (clients.rs).
    pub leaving: Arc<std::sync::atomic::AtomicBool>,
}

struct Server {
    s: Session,
    /// Shared with the accept loop, which looks at it to see whether the client hung up.
    stream: Arc<TcpStream>,
    ack: bool,
    /// Thread for g/G/p/P/m/M (Hg), and for c/s (Hc): vCPU indexes.
    general: usize,
    resume_thread: Option<usize>,
    running: bool,
    last_sent: Vec<u8>,
    /// A write to gdb failed or timed out: the connection is as good as closed.
    broken: bool,
    /// The breakpoints gdb had put in when the VM last resumed: gdb takes them all out at
    /// each stop (unless `set breakpoint always-inserted on`), so `monitor breakpoints` shows
    /// these while there are none.
    inserted_at_resume: Vec<u64>,
}

/// How long a write to gdb may wait for a client that does not read: past it the connection is
/// taken as dropped, so a stalled client cannot hold the session (clients.rs) for good.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves one gdb connection until gdb detaches, kills, disconnects, or the VM ends; returns
/// the session for the next client. `stop_first`: the VM may be running (a client after the
/// first): stop it before serving, as QEMU's gdbstub does when a client connects.
pub fn serve(stream: Arc<TcpStream>, session: Session, stop_first: bool) -> Session {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(Duration::from_millis(20)));
    let _ = stream.set_write_timeout(Some(WRITE_TIMEOUT));
    let mut server = Server {
        s: session,
        stream,
        ack: true,
        general: 0,
        resume_thread: None,
        running: false,
        last_sent: Vec::new(),
        broken: false,
        inserted_at_resume: Vec::new(),
    };
    server.s.debugger.forget_reported();
    if stop_first {
        server.stop_for_new_client();
    }
    server.run();
    server.s
}

impl Server {
    /// The session loop: between reads from gdb (each waits at most the socket's read
    /// timeout), it notices a VM going away and a vCPU stopping, since both must be reported
    /// to gdb without gdb asking.
    fn run(&mut self) {
        let mut reader = PacketReader::new();
        let mut buf = [0u8; 4096];
        loop {
            if (self.s.vm_stopping)() {
                return self.vm_going_away();
            }
            if self.s.debugger.take_kick_wanted() {
                self.kick_all(); // a vCPU stopped the VM from a hook that cannot kick the others
            }
            if self.running && self.s.debugger.is_stopped() && !self.report_stop() {
                return;
            }
            let Some(n) = self.receive(&mut buf).filter(|_| !self.broken) else {
                return self.detach();
            };
            for &byte in &buf[..n] {
                let Some(event) = reader.feed(byte) else { continue };
                if !self.on_event(event) {
                    return;
                }
            }
        }
    }

    /// The VM is going away (a fault, timeout, signal, kill): once the vCPUs have ended, gdb
    /// hears how; give them a moment.
    fn vm_going_away(&mut self) {
        let until = std::time::Instant::now() + Duration::from_secs(1);
        while !self.s.debugger.live_vcpus().is_empty() && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(5));
        }
        if self.s.debugger.live_vcpus().is_empty() {
            self.send_exit_reply();
        }
    }

    /// The vCPUs stopped while gdb was waiting for a continue or step to end: send the stop
    /// reply (after any console note). False if every vCPU ended instead, which ends the
    /// session.
    fn report_stop(&mut self) -> bool {
        self.running = false;
        match self.s.debugger.wait_stopped(&|| false) {
            Some(reason) => {
                if let Some(note) = self.s.debugger.take_note() {
                    self.console(note.as_bytes());
                }
                let reply = self.stop_reply(reason);
                self.send(&reply);
                true
            }
            None => {
                // Every vCPU ended: the process exits; tell gdb how.
                self.send_exit_reply();
                false
            }
        }
    }

    /// Reads what gdb sent: `Some(0)` if nothing came within the read timeout (so the loop
    /// looks at the vCPUs again), `None` once the connection is closed or broken.
    fn receive(&mut self, buf: &mut [u8]) -> Option<usize> {
        match (&*self.stream).read(buf) {
            Ok(0) => None,
            Ok(n) => Some(n),
            Err(e) if matches!(e.kind(), WouldBlock | TimedOut | Interrupted) => Some(0),
            Err(_) => None,
        }
    }

    /// One event of the byte stream ("Overview": packets and their acks, "Interrupts": a raw
    /// 0x03). False ends the session.
    fn on_event(&mut self, event: Event) -> bool {
        match event {
            Event::Packet(payload) => {
                if self.ack {
                    self.raw(b"+");
                }
                return self.handle(&payload);
            }
            Event::BadChecksum | Event::TooLong => self.raw(b"-"),
            Event::Nack => {
                let last = self.last_sent.clone();
                self.raw(&last);
            }
            Event::Interrupt if self.running => self.interrupt(),
            Event::Interrupt | Event::Ack => {}
        }
        true
    }

    fn raw(&mut self, bytes: &[u8]) {
        if !self.broken && (&*self.stream).write_all(bytes).is_err() {
            self.broken = true;
        }
    }

    fn send(&mut self, payload: &str) {
        self.send_bytes(payload.as_bytes());
    }

    fn send_bytes(&mut self, payload: &[u8]) {
        let packet = encode_packet(payload);
        self.raw(&packet);
        self.last_sent = packet;
    }

    /// Console output for gdb to print ('O' packet, "Stop Replies").
    fn console(&mut self, text: &[u8]) {
        self.send(&format!("O{}", hex_encode(text)));
    }

    /// The VM ended: gdb hears how, and the session ends with it.
    fn send_exit_reply(&mut self) {
        self.s.leaving.store(true, Ordering::SeqCst);
        let (note, reply) = command::exit_reply(&self.s.debugger.how_ended());
        if let Some(note) = note {
            self.console(note.as_bytes());
        }
        self.send(&reply);
    }

    /// A client after the first: the VM runs on since the last one left; stop it, and wait
    /// (a bounded while) until every vCPU has parked, so this client starts as the first did.
    fn stop_for_new_client(&mut self) {
        if self.s.debugger.live_vcpus().is_empty() {
            return;
        }
        self.interrupt();
        let until = std::time::Instant::now() + Duration::from_secs(5);
        let vm_stopping = &self.s.vm_stopping;
        let _ =
            self.s.debugger.wait_stopped(&|| std::time::Instant::now() >= until || vm_stopping());
    }

    fn interrupt(&mut self) {
        self.s.debugger.request_stop(StopReason::Interrupt);
        self.kick_all();
    }

    fn kick_all(&self) {
        (0..self.s.debugger.vcpus()).for_each(|i| (self.s.kick)(i));
    }

    fn stop_reply(&mut self, reason: StopReason) -> String {
        let (signal, vcpu) = match reason {
            StopReason::Initial => (5, self.general),
            StopReason::Step(i) | StopReason::Breakpoint(i) => (5, i),
            StopReason::Interrupt => (2, self.general),
        };
        self.general = vcpu;
        command::stop_reply(signal, vcpu + 1)
    }

    /// The current vCPU's registers; where they cannot be read, gdb gets `E01`.
    fn registers(&mut self) -> Option<(kvm_regs, kvm_sregs)> {
        match self.s.debugger.request(self.general, Request::GetRegisters) {
            Reply::Registers(both) => Some(*both),
            other => {
                self.failed(&other, "E01");
                None
            }
        }
    }

    /// A request failed: gdb gets the error number `error`, and with -v stderr says why.
    fn failed(&mut self, reply: &Reply, error: &str) {
        if let (true, Reply::Failed(why)) = (verbose(), reply) {
            message(&format!("mini-kvm: gdb: {why}"));
        }
        self.send(error);
    }

    /// Handles one packet; false ends the session (`k`, `D`). Every other command is
    /// answered by [`Server::answer`].
    fn handle(&mut self, payload: &[u8]) -> bool {
        let Ok(cmd) = command::parse(payload) else {
            self.send("E01");
            return true;
        };
        match cmd {
            Command::Kill => {
                self.s.leaving.store(true, Ordering::SeqCst);
                self.remove_all_breakpoints();
                (self.s.kill)();
                false
            }
            Command::Detach => {
                self.s.leaving.store(true, Ordering::SeqCst);
                self.send("OK");
                self.detach();
                false
            }
            cmd => {
                self.answer(cmd);
                true
            }
        }
    }

    /// Answers one command, in a line here or in a method below named after the packet; what
    /// mini-kvm does not support (other breakpoint types, unknown packets) gets the empty
    /// reply.
    fn answer(&mut self, cmd: Command) {
        match cmd {
            Command::QuerySupported(_) => self.send(&command::supported_reply()),
            Command::StartNoAckMode => {
                self.send("OK");
                self.ack = false;
            }
            Command::QueryXferFeatures { annex, offset, length } => {
                self.xfer_features(&annex, offset, length)
            }
            Command::QueryFirstThread => self.thread_list(),
            Command::QueryNextThread => self.send("l"),
            Command::QueryCurrentThread => self.send(&format!("QC{:x}", self.general + 1)),
            Command::QueryAttached => self.send("1"),
            Command::QueryThreadExtraInfo(tid) => self.thread_extra_info(tid),
            Command::HaltReason => self.send(&command::stop_reply(5, self.general + 1)),
            Command::SetThread { for_resume, tid } => self.set_thread(for_resume, tid),
            Command::ThreadAlive(tid) => self.thread_alive(tid),
            Command::ReadRegisters => self.read_registers(),
            Command::WriteRegisters(bytes) => {
                self.write_registers(|arch, r| r.decode_g_into(arch, &bytes))
            }
            Command::ReadRegister(n) => self.read_register(n),
            Command::WriteRegister(n, bytes) => {
                self.write_registers(|arch, r| r.write_register(arch, n, &bytes))
            }
            Command::ReadMemory { addr, len } => self.read_memory(addr, len),
            Command::WriteMemory { addr, data } => self.write_memory(addr, data),
            // In all-stop mode gdb resumes only a stopped target; a client that asks while the
            // VM runs gets an error at once, not a reply at the next stop.
            Command::Continue(_) | Command::Step(_) | Command::VCont(_) if self.running => {
                self.send("E01")
            }
            Command::Continue(_) => self.resume(None),
            Command::Step(_) => self.resume(Some(self.resume_thread.unwrap_or(self.general))),
            Command::VContQuery => self.send("vCont;c;C;s;S"),
            Command::VCont(actions) => self.vcont(&actions),
            Command::Breakpoint { insert: true, kind: 0, addr, .. } => self.insert_breakpoint(addr),
            Command::Breakpoint { insert: false, kind: 0, addr, .. } => {
                self.remove_breakpoint(addr)
            }
            Command::Monitor(text) => self.monitor(&text),
            _ => self.send(""),
        }
    }

    /// `qXfer:features:read`: a chunk of the target description gdb asks for by name.
    fn xfer_features(&mut self, annex: &str, offset: usize, length: usize) {
        match target::document(self.s.arch, annex) {
            Some(doc) => {
                let reply = command::xfer_reply(doc.as_bytes(), offset, length);
                self.send_bytes(&reply);
            }
            None => self.send("E00"),
        }
    }

    /// `g`: all registers of the current vCPU, in the target description's order.
    fn read_registers(&mut self) {
        if let Some((regs, sregs)) = self.registers() {
            let r = Registers::from_kvm(&regs, &sregs);
            self.send(&r.encode_g(self.s.arch));
        }
    }

    /// `p`: one register, by its number in the target description.
    fn read_register(&mut self, n: usize) {
        let Some((regs, sregs)) = self.registers() else { return };
        let r = Registers::from_kvm(&regs, &sregs);
        match r.read_register(self.s.arch, n) {
            Some(hex) => self.send(&hex),
            None => self.send("E01"),
        }
    }

    /// `m`: guest memory at a virtual address of the current vCPU, at most 16 KiB at once
    /// (gdb splits larger reads).
    fn read_memory(&mut self, addr: u64, len: usize) {
        let len = len.min(0x4000);
        match self.s.debugger.request(self.general, Request::ReadMemory { addr, len }) {
            Reply::Memory(bytes) => self.send(&hex_encode(&bytes)),
            other => self.failed(&other, "E14"),
        }
    }

    /// `M`/`X`: guest memory written at a virtual address of the current vCPU.
    fn write_memory(&mut self, addr: u64, data: Vec<u8>) {
        match self.s.debugger.request(self.general, Request::WriteMemory { addr, data }) {
            Reply::Done => self.send("OK"),
            other => self.failed(&other, "E14"),
        }
    }

    /// `vCont`: resume all vCPUs, or step one while the others stay stopped.
    fn vcont(&mut self, actions: &[(VContAction, Option<ThreadId>)]) {
        // A thread id that names no vCPU is an error, not "the current thread".
        let unknown = actions.iter().any(|(_, tid)| tid.is_some_and(|t| self.vcpu_of(t).is_none()));
        if unknown {
            return self.send("E01");
        }
        // A step of one thread wins: the others stay stopped meanwhile.
        let step = actions.iter().find_map(|(action, tid)| match action {
            VContAction::Step => Some(tid.and_then(|t| self.vcpu_of(t)).unwrap_or(self.general)),
            _ => None,
        });
        self.resume(step);
    }

    fn write_registers(&mut self, edit: impl FnOnce(Arch, &mut Registers) -> Result<(), String>) {
        let Some((mut regs, sregs)) = self.registers() else { return };
        let mut r = Registers::from_kvm(&regs, &sregs);
        if edit(self.s.arch, &mut r).is_err() {
            return self.send("E01");
        }
        r.to_kvm(&mut regs);
        match self.s.debugger.request(self.general, Request::SetRegisters(Box::new((regs, sregs))))
        {
            Reply::Done => self.send("OK"),
            _ => self.send("E01"),
        }
    }

    /// `c`, `s`, `vCont`: the VM runs, unless a breakpoint just set can never be hit here;
    /// then it stays stopped and gdb hears why, before the stop reply (debugger/reachable.rs).
    fn resume(&mut self, step: Option<usize>) {
        if let Some(note) = self.s.debugger.take_pending_stop() {
            self.console(note.as_bytes());
            let reply = self.stop_reply(StopReason::Breakpoint(self.general));
            self.send(&reply);
            return;
        }
        self.inserted_at_resume = self.s.debugger.breakpoint_addresses();
        self.running = true;
        self.s.debugger.resume(step);
    }

    /// gdb left: remove every breakpoint and let the guest run on its own.
    fn detach(&mut self) {
        self.s.leaving.store(true, Ordering::SeqCst);
        self.remove_all_breakpoints();
        if verbose() {
            message("mini-kvm: gdb detached; the guest runs on");
        }
        self.s.debugger.resume(None);
    }
}
