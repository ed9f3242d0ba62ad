//! `--trace[=CLASSES]`: every VM exit explained on stderr, one line each: which exit, its raw
//! fields (as the instruction reads), what the devices made of it, what happens next, and the
//! address of the instruction that exited (exit_address.rs: the same on every kind of KVM).
//!
//! ```text
//! [0] #1     +2.347ms  KVM_EXIT_IO    out 0x0500 al=0x01     hypercall PUTCHAR 'H'  at 0000:000e
//! ```
//!
//! Devices never format text: this layer reads what they did from the exit, the registers and
//! their state afterwards. References: api.rst section 5 (the exits), the 16550A datasheet
//! (the UART's registers, see devices/uart.rs).

use crate::coalesce::COUNTERS;
use crate::devices::hypercall::{Hypercall, HYPERCALL_PORT};
use crate::devices::uart::*;
use crate::devices::{IrqLine, PORT_I8042_COMMAND, PORT_SYSTEM_CONTROL_A};
use crate::error::Ending;
use crate::exit_address::{at_io_instruction, IoRipRule};
use crate::fault::location;
use crate::kvm::{Exit, Vcpu};
use crate::machine::{Layer, Setup};
use crate::stats::port_name;
use crate::vcpu::{Runner, VcpuHook};
use crate::x86::bit_names;
use std::fmt::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

const IO: u32 = 1 << 0;
const HYPERCALL: u32 = 1 << 1;
const UART: u32 = 1 << 2;
const MMIO: u32 = 1 << 3;
const HLT: u32 = 1 << 4;
const FAULT: u32 = 1 << 5;
const IRQ: u32 = 1 << 6;
const KICK: u32 = 1 << 7;
const DEBUG: u32 = 1 << 8;
const VIRTIO: u32 = 1 << 9;

/// The classes `--trace=` takes, with what each shows.
#[rustfmt::skip]
pub const CLASSES: &[(&str, u32, &str)] = &[
    ("io", IO, "every port I/O exit (KVM_EXIT_IO)"),
    ("hypercall", HYPERCALL, "port I/O to the hypercall port 0x500"),
    ("uart", UART, "port I/O to COM1, registers decoded"),
    ("mmio", MMIO, "KVM_EXIT_MMIO: memory accesses with no RAM behind them"),
    ("hlt", HLT, "KVM_EXIT_HLT"),
    ("fault", FAULT, "shutdowns, emulation failures, failed entries, system events"),
    ("irq", IRQ, "interrupt lines the VMM raises or lowers (KVM_IRQ_LINE)"),
    ("kick", KICK, "KVM_RUN interrupted by mini-kvm's own signal (KVM_EXIT_INTR); not in the default set, since when they happen depends on timing"),
    ("debug", DEBUG, "KVM_EXIT_DEBUG (single-steps, breakpoints)"),
    ("virtio", VIRTIO, "the disk's requests as the device serves them (no exit: the disk thread's lines); not in the default set, since where they fall among the vCPUs' lines depends on timing"),
];
const ALL: u32 = (1 << 10) - 1;

/// The classes of `--trace[=CLASSES]`: all but `kick` and `virtio` by default.
pub fn parse_classes(text: Option<&str>) -> Result<u32, Ending> {
    let Some(text) = text else { return Ok(ALL & !KICK & !VIRTIO) };
    let mut mask = 0;
    for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let known = || CLASSES.iter().map(|c| c.0).collect::<Vec<_>>().join(", ");
        mask |= match (name, CLASSES.iter().find(|c| c.0 == name)) {
            ("all", _) => ALL,
            (_, Some(class)) => class.1,
            (_, None) => {
                return Err(Ending::Usage(format!(
                    "--trace: unknown class '{name}' (known: {}, all)",
                    known()
                )))
            }
        };
    }
    match mask {
        0 => Err(Ending::Usage("--trace= needs at least one class".into())),
        mask => Ok(mask),
    }
}

/// The `--trace` layer.
pub struct Trace {
    classes: u32,
    start: Instant,
    /// Where this host leaves RIP at an I/O exit (a probe VM measured it).
    io_rip: Option<IoRipRule>,
}

impl Trace {
    pub fn new(classes: Option<&str>, io_rip: Option<IoRipRule>) -> Result<Trace, Ending> {
        Ok(Trace { classes: parse_classes(classes)?, start: Instant::now(), io_rip })
    }
}

impl Layer for Trace {
    fn after_memory(&mut self, m: &mut Setup) -> Result<(), Ending> {
        if let Some(mut com1) = m.bus.com1_if_on() {
            if let Some(inner) = com1.irq.take() {
                let traced = TracedIrq { inner, on: self.classes & IRQ != 0, start: self.start };
                com1.irq = Some(Arc::new(traced));
            }
        }
        Ok(())
    }

    fn after_vcpus(&mut self, _m: &mut Setup, vcpus: &mut [Vcpu]) -> Result<(), Ending> {
        vcpus.iter_mut().for_each(|v| v.enable_sync_regs(true)); // CS:IP for each line
        Ok(())
    }

    fn vcpu_hook(&mut self, index: usize) -> Option<Box<dyn VcpuHook>> {
        let (classes, io_rip) = (self.classes, self.io_rip);
        Some(Box::new(Tracer { index, classes, io_rip, count: 0, last: self.start, drains: 0 }))
    }
}

/// One vCPU's trace.
struct Tracer {
    index: usize,
    classes: u32,
    io_rip: Option<IoRipRule>,
    /// Exits so far (kicks not counted), and when the last line's event happened.
    count: u64,
    last: Instant,
    /// Ring drains already traced.
    drains: u64,
}

impl VcpuHook for Tracer {
    fn after_exit(&mut self, cpu: &mut Runner, exit: &Exit, next: &mut Option<Ending>) {
        self.ring_batch();
        let class = class(exit);
        self.count += u64::from(class != KICK);
        let delta = self.lap();
        if self.classes & class == 0 {
            return;
        }
        let number = if class == KICK { "-".to_string() } else { self.count.to_string() };
        let mut note = what_happened(cpu, exit);
        let outcome = match next {
            None if class == KICK => Some("kicked out of KVM_RUN".to_string()),
            None => None,
            Some(Ending::Halted | Ending::Exit(_) | Ending::Stopped(_)) => {
                Some("vCPU stops".into())
            }
            Some(ending) => Some(ending.to_string().trim_start_matches("error: ").to_string()),
        };
        if let Some(outcome) = outcome {
            note = if note.is_empty() { outcome } else { format!("{note}: {outcome}") };
        }
        let mut line = format!(
            "[{}] #{number:<5} +{delta:.3}ms  {:<14} {:<22} {note}",
            self.index,
            exit.name(),
            raw(cpu, exit)
        );
        if let (Ok(regs), Ok(sregs)) = (cpu.vcpu.regs_at_exit(), cpu.vcpu.sregs_at_exit()) {
            let regs = match *exit {
                Exit::Io { out, port, size, .. } => at_io_instruction(
                    &cpu.vcpu,
                    &cpu.memory,
                    self.io_rip,
                    regs,
                    &sregs,
                    (out, port, size),
                ),
                _ => regs,
            };
            let at = location(&regs, &sregs);
            let _ = write!(line, "  at {}", at.strip_prefix("CS:IP ").unwrap_or(&at));
        }
        if let Err(e) = crate::console::write_line(line.trim_end(), None) {
            *next = Some(Ending::Host(format!("writing the --trace output (stderr) failed: {e}")));
        }
    }

    fn end(&mut self, _cpu: &mut Runner, _ending: &mut Ending, _lines: &mut Vec<String>) {
        self.ring_batch();
    }
}

impl Tracer {
    /// Milliseconds since the last traced event.
    fn lap(&mut self) -> f64 {
        let now = Instant::now();
        let delta = now - std::mem::replace(&mut self.last, now);
        delta.as_secs_f64() * 1e3
    }

    /// A line for the writes the coalescing layer took from KVM's ring since the last one.
    fn ring_batch(&mut self) {
        let drains = COUNTERS.drains.load(Ordering::Relaxed);
        let batch = COUNTERS.batch.lock().unwrap_or_else(|e| e.into_inner()).take();
        let (Some((writes, sent)), true) = (batch, drains > self.drains) else { return };
        self.drains = drains;
        let delta = self.lap();
        if self.classes & (IO | UART) == 0 {
            return;
        }
        let text: String = sent.iter().map(|&b| byte_text(b, false)).collect();
        let plural = if writes == 1 { "" } else { "s" };
        let mut note = format!("{writes} write{plural} from the ring, no exit");
        if !sent.is_empty() {
            let _ = write!(note, ": THR \"{text}\"");
        }
        let other = writes as usize - sent.len().min(writes as usize);
        if other > 0 {
            let _ = write!(note, "; {other} to DLL (DLAB set)");
        }
        let (index, raw) = (self.index, format!("{writes} x out {COM1_BASE:#06x}"));
        let line = format!("[{index}] ring   +{delta:.3}ms  COALESCED PIO  {raw:<22} {note}");
        let _ = crate::console::write_line(&line, None);
    }
}

/// The class an exit is traced under.
fn class(exit: &Exit) -> u32 {
    match exit {
        Exit::Io { port: HYPERCALL_PORT, .. } => IO | HYPERCALL,
        Exit::Io { port: COM1_BASE..=0x3FF, .. } => IO | UART,
        Exit::Io { .. } => IO,
        Exit::Mmio { .. } => MMIO,
        Exit::Hlt => HLT,
        Exit::Debug { .. } => DEBUG,
        Exit::Interrupted => KICK,
        _ => FAULT,
    }
}

/// An exit's fields as the instruction reads: `out 0x0500 al=0x01`, `read 0xd0000000 (4 bytes)`.
fn raw(cpu: &mut Runner, exit: &Exit) -> String {
    match *exit {
        Exit::Io { out, port, size, count } => {
            let reg = ["al", "ax", "eax", "eax"][usize::from(size.max(1)).ilog2() as usize];
            let (first, w) =
                (le(&cpu.vcpu.io_data()[..usize::from(size)]), usize::from(size) * 2 + 2);
            match (out, count > 1) {
                (true, false) => format!("out {port:#06x} {reg}={first:#0w$x}"),
                (false, false) => format!("in  {port:#06x}"),
                (true, true) => format!("outs {port:#06x} {count} x {size} bytes"),
                (false, true) => format!("ins {port:#06x} {count} x {size} bytes"),
            }
        }
        Exit::Mmio { addr, len, write, data } => {
            let unit = if len == 1 { "byte" } else { "bytes" };
            let value = le(&data[..usize::from(len)]);
            match write {
                true => format!("write {addr:#x} ({len} {unit}) = {value:#x}"),
                false => format!("read {addr:#x} ({len} {unit})"),
            }
        }
        _ => String::new(),
    }
}

fn le(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0, |v, &b| v << 8 | u64::from(b))
}

/// What the devices made of a port or MMIO exit, in words.
fn what_happened(cpu: &mut Runner, exit: &Exit) -> String {
    let (out, port, size, data) = match *exit {
        Exit::Io { out, port, size, .. } => (out, port, size, cpu.vcpu.io_data().to_vec()),
        Exit::Mmio { write, .. } if !cpu.io.claimed => {
            return format!("no device: {}", if write { "write dropped" } else { "reads all ones" })
        }
        _ => return String::new(),
    };
    let mut said = Vec::new();
    for access in data.chunks(usize::from(size.max(1))) {
        said.push(match (port, out) {
            (HYPERCALL_PORT, true) => {
                match cpu.vcpu.regs_at_exit().map(|r| Hypercall::decode(r.rax as u8, r.rbx as u8)) {
                    Ok(Hypercall::Putchar(b)) => {
                        format!("hypercall PUTCHAR {}", byte_text(b, true))
                    }
                    Ok(Hypercall::ExitStatus(s)) => format!("hypercall EXIT_STATUS {s}"),
                    Ok(Hypercall::Unknown(x)) => format!("unknown hypercall {x:#04x}"),
                    Ok(Hypercall::Exit) => "hypercall EXIT".into(),
                    Ok(Hypercall::Getchar) => {
                        let got =
                            cpu.io.hypercall.pending.map_or("?".into(), |b| byte_text(b, true));
                        format!("hypercall GETCHAR; -> {got}")
                    }
                    Err(_) => "hypercall (registers unreadable)".into(),
                }
            }
            (HYPERCALL_PORT, false) => format!("hypercall result {}", byte_text(access[0], true)),
            (COM1_BASE..=0x3FF, _) => uart_words(cpu, port, out, access[0]),
            (PORT_SYSTEM_CONTROL_A, true) => "System Control Port A (A20 stays on)".into(),
            (PORT_I8042_COMMAND, true) if access[0] == 0xFE => {
                "i8042 command 0xFE: pulse the reset line".into()
            }
            _ if cpu.io.claimed => continue,
            (_, true) => format!("no device ({}): write ignored", port_name(port)),
            (_, false) => format!("no device ({}): reads all ones", port_name(port)),
        });
    }
    said.join("; ")
}

/// The names of the UART's LSR and MSR bits, bit 0 first (16550A datasheet).
const LSR_BITS: &[&str] = &["DR", "OE", "PE", "FE", "BI", "THRE", "TEMT", "FIFOERR"];
const MSR_BITS: &[&str] = &["DCTS", "DDSR", "TERI", "DDCD", "CTS", "DSR", "RI", "DCD"];

/// A COM1 register access: `write THR = 0x48 'H'`, `read LSR = 0x60 (THRE TEMT)`.
fn uart_words(cpu: &Runner, port: u16, out: bool, value: u8) -> String {
    let dlab = cpu.io.bus.com1_if_on().is_some_and(|c| c.uart.lcr & LCR_DLAB != 0);
    let register = match (port - COM1_BASE, out, dlab) {
        (0, _, true) => "DLL",
        (1, _, true) => "DLM",
        (0, false, _) => "RBR",
        (0, true, _) => "THR",
        (1, ..) => "IER",
        (2, false, _) => "IIR",
        (2, true, _) => "FCR",
        (3, ..) => "LCR",
        (4, ..) => "MCR",
        (5, ..) => "LSR",
        (6, ..) => "MSR",
        _ => "SCR",
    };
    let verb = if out { "write" } else { "read" };
    let bits = match (register, out) {
        ("THR", _) => format!(" {}", byte_text(value, true)),
        ("LSR", false) => format!(" ({})", bit_names(value.into(), LSR_BITS)),
        ("MSR", false) => format!(" ({})", bit_names(value.into(), MSR_BITS)),
        ("IIR", false) => {
            let what = match value & 0x0F {
                0x01 => "no interrupt",
                0x06 => "line status",
                0x04 => "received data",
                0x0C => "character timeout",
                0x02 => "THR empty",
                0x00 => "modem status",
                _ => "?",
            };
            format!(" ({what}{})", if value & 0xC0 != 0 { ", FIFOs on" } else { "" })
        }
        _ => String::new(),
    };
    format!("{verb} {register} = {value:#04x}{bits}")
}

/// A byte as text: printable as itself, quoted (`'H'`) or not, escapes named, the rest in hex.
pub fn byte_text(b: u8, quoted: bool) -> String {
    let text = match b {
        b'\n' => "\\n".into(),
        b'\r' => "\\r".into(),
        b'\t' if quoted => "\\t".into(),
        b'"' if !quoted => "\\\"".into(),
        0x20..=0x7E => (b as char).to_string(),
        _ if quoted => return format!("{b:#04x}"),
        _ => format!("\\x{b:02x}"),
    };
    if quoted {
        format!("'{text}'")
    } else {
        text
    }
}

/// COM1's interrupt line, traced: `[irq] +1.23ms  IRQ 4 raised (KVM_IRQ_LINE): COM1 interrupt pending`.
struct TracedIrq {
    inner: Arc<dyn IrqLine>,
    on: bool,
    start: Instant,
}

impl IrqLine for TracedIrq {
    fn set_level(&self, irq: u32, high: bool) {
        self.inner.set_level(irq, high);
        if self.on {
            let (what, state) = if high { ("raised", "pending") } else { ("lowered", "cleared") };
            let ms = self.start.elapsed().as_secs_f64() * 1e3;
            let _ = crate::console::write_line(&format!("[irq]      +{ms:.2}ms  IRQ {irq} {what} (KVM_IRQ_LINE): COM1 interrupt {state}"), None);
        }
    }
}

pub mod virtio;

#[cfg(test)]
mod tests;
