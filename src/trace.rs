//! `--trace`: every VM exit explained in one line, as it happens.
//!
//! The point of a teaching VMM is to *watch* virtualisation: each time the guest does something
//! KVM hands to user space, a line on stderr says which exit it was (the `KVM_EXIT_*` name from
//! api.rst section 5), its raw fields, what mini-kvm's device made of it, and where the guest
//! was. For example:
//!
//! ```text
//! [0] #3     +0.011ms  KVM_EXIT_IO    out 0x0500 al=0x01  hypercall PUTCHAR 'l'  at 0000:0009
//! [0] #14    +0.006ms  KVM_EXIT_IO    in  0x03fd          read LSR = 0x60 (THRE TEMT)  at 0000:0014
//! [0] #40    +0.010ms  KVM_EXIT_HLT   vCPU stops  at 0000:0021
//! [irq]      +12.40ms  IRQ 4 raised: UART interrupt pending (received data)
//! ```
//!
//! Classes select what is shown (`--trace=hlt,uart`). When `--trace` is off the run loop pays
//! one branch per exit: no formatting, no clock reads.

mod words;

use crate::fault::location;
use crate::kvm::bindings::{kvm_regs, kvm_sregs};
use crate::kvm::VmExit;
use std::fmt::Write as _;
use std::time::Instant;

// The trace classes: each bit is defined here once, and the table below names them.
const IO: u32 = 1 << 0;
const HYPERCALL: u32 = 1 << 1;
const UART: u32 = 1 << 2;
const MMIO: u32 = 1 << 3;
const HLT: u32 = 1 << 4;
const FAULT: u32 = 1 << 5;
const IRQ: u32 = 1 << 6;
const KICK: u32 = 1 << 7;
const DEBUG: u32 = 1 << 8;

/// What `--trace=CLASS,...` can select: name, bit, what it shows (for `--help`).
pub const CLASSES: &[(&str, u32, &str)] = &[
    ("io", IO, "every port I/O exit (KVM_EXIT_IO)"),
    (
        "hypercall",
        HYPERCALL,
        "port I/O to the hypercall port 0x500",
    ),
    ("uart", UART, "port I/O to COM1, registers decoded"),
    (
        "mmio",
        MMIO,
        "KVM_EXIT_MMIO: memory accesses with no RAM behind them",
    ),
    ("hlt", HLT, "KVM_EXIT_HLT"),
    (
        "fault",
        FAULT,
        "shutdowns, emulation failures, failed entries, system events",
    ),
    (
        "irq",
        IRQ,
        "interrupt lines the VMM raises or lowers (KVM_IRQ_LINE)",
    ),
    (
        "kick",
        KICK,
        "KVM_RUN interrupted by mini-kvm's own signal (KVM_EXIT_INTR); not in the default \
         set, since when they happen depends on timing",
    ),
    ("debug", DEBUG, "KVM_EXIT_DEBUG (single-steps, breakpoints)"),
];

/// Every class in the table.
const ALL: u32 = {
    let mut all = 0;
    let mut i = 0;
    while i < CLASSES.len() {
        all |= CLASSES[i].1;
        i += 1;
    }
    all
};

/// What plain `--trace` shows: every exit the guest causes. Kicks are mini-kvm's own doing
/// (a timeout, a stop, output that waited too long), and appear only when asked for, so that
/// a trace reads the same on a fast host and a slow one.
const DEFAULT: u32 = ALL & !KICK;

/// Parses `io,hlt` (or nothing: the default set) into a class mask.
pub fn parse_classes(text: Option<&str>) -> Result<u32, String> {
    let Some(text) = text else {
        return Ok(DEFAULT);
    };
    let mut mask = 0;
    for name in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        if name == "all" {
            mask |= ALL;
            continue;
        }
        let (_, bit, _) = CLASSES.iter().find(|(n, _, _)| *n == name).ok_or_else(|| {
            let known: Vec<&str> = CLASSES.iter().map(|c| c.0).collect();
            format!(
                "--trace: unknown class '{name}' (known: {}, all)",
                known.join(", ")
            )
        })?;
        mask |= bit;
    }
    if mask == 0 {
        return Err("--trace= needs at least one class".into());
    }
    Ok(mask)
}

/// The shared part: which classes, and time zero.
#[derive(Debug)]
pub struct TraceConfig {
    pub classes: u32,
    pub start: Instant,
}

impl TraceConfig {
    pub fn wants(&self, class: u32) -> bool {
        self.classes & class != 0
    }

    /// An interrupt line's level changed (KVM_IRQ_LINE, from any thread: `--trace=irq`).
    pub fn irq(&self, irq: u32, high: bool) {
        let (what, state) = if high {
            ("raised", "pending")
        } else {
            ("lowered", "cleared")
        };
        let device = if irq == crate::devices::uart::COM1_IRQ {
            "COM1"
        } else {
            "device"
        };
        self.event(
            IRQ,
            &format!("IRQ {irq} {what} (KVM_IRQ_LINE): {device} interrupt {state}"),
        );
    }

    /// A line not tied to a vCPU exit (interrupt lines raised from the stdin thread...).
    pub fn event(&self, class: u32, what: &str) {
        if self.wants(class) {
            let ms = self.start.elapsed().as_secs_f64() * 1e3;
            crate::console::errout::trace(&format!("[irq]      +{ms:.2}ms  {what}"));
        }
    }
}

/// The parts of an exit the trace line needs, copied before the exit is handled.
#[derive(Debug, Clone, Copy)]
pub struct ExitSummary {
    name: &'static str,
    class: u32,
    /// Raw fields: direction/port/size/data or address/length.
    raw: RawFields,
}

#[derive(Debug, Clone, Copy)]
enum RawFields {
    None,
    Io {
        out: bool,
        port: u16,
        size: u8,
        count: u32,
        first: u32,
    },
    Mmio {
        write: bool,
        addr: u64,
        len: u8,
        value: u64,
    },
}

fn io_class(port: u16) -> u32 {
    use crate::devices::{com1, hypercall::HYPERCALL_PORT};
    match port {
        HYPERCALL_PORT => IO | HYPERCALL,
        com1::COM1_FIRST..=com1::COM1_LAST => IO | UART,
        _ => IO,
    }
}

/// The first (up to) 8 bytes of an access, little-endian, as the register held them.
fn le(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    let n = bytes.len().min(8);
    buf[..n].copy_from_slice(&bytes[..n]);
    u64::from_le_bytes(buf)
}

impl RawFields {
    /// Port I/O: `data` holds `count` accesses of `size` bytes (only an `out`'s are known yet).
    fn io(out: bool, port: u16, size: u8, data: &[u8]) -> RawFields {
        RawFields::Io {
            out,
            port,
            size,
            count: (data.len() / usize::from(size.max(1))) as u32,
            first: if out {
                le(&data[..usize::from(size).min(data.len())]) as u32
            } else {
                0
            },
        }
    }

    /// MMIO: a write's value is known at the exit, a read's is what the VMM answers.
    fn mmio(write: bool, addr: u64, data: &[u8]) -> RawFields {
        RawFields::Mmio {
            write,
            addr,
            len: data.len() as u8,
            value: if write { le(data) } else { 0 },
        }
    }
}

impl ExitSummary {
    pub fn of(exit: &VmExit<'_>) -> ExitSummary {
        let (class, raw) = match exit {
            VmExit::IoOut {
                port, size, data, ..
            } => (io_class(*port), RawFields::io(true, *port, *size, data)),
            VmExit::IoIn { port, size, data } => {
                (io_class(*port), RawFields::io(false, *port, *size, data))
            }
            VmExit::MmioRead { addr, data } => (MMIO, RawFields::mmio(false, *addr, data)),
            VmExit::MmioWrite { addr, data } => (MMIO, RawFields::mmio(true, *addr, data)),
            VmExit::Hlt => (HLT, RawFields::None),
            VmExit::Debug { .. } => (DEBUG, RawFields::None),
            VmExit::Interrupted => (KICK, RawFields::None),
            VmExit::Shutdown
            | VmExit::FailEntry { .. }
            | VmExit::InternalError { .. }
            | VmExit::SystemEvent { .. }
            | VmExit::Malformed { .. }
            | VmExit::Other(_) => (FAULT, RawFields::None),
        };
        ExitSummary {
            name: exit.name(),
            class,
            raw,
        }
    }

    /// The raw part of the line: "out 0x0500 al=0x01", "read 0xffff0 (1 byte)".
    fn raw_text(&self) -> String {
        match self.raw {
            RawFields::None => String::new(),
            RawFields::Io {
                out,
                port,
                size,
                count,
                first,
            } => {
                let reg = match size {
                    1 => "al",
                    2 => "ax",
                    _ => "eax",
                };
                let width = usize::from(size) * 2;
                match (out, count > 1) {
                    (true, false) => format!("out {port:#06x} {reg}={first:#0w$x}", w = width + 2),
                    (false, false) => format!("in  {port:#06x}"),
                    (true, true) => format!("outs {port:#06x} {count} x {size} bytes"),
                    (false, true) => format!("ins {port:#06x} {count} x {size} bytes"),
                }
            }
            RawFields::Mmio {
                write,
                addr,
                len,
                value,
            } => {
                let unit = if len == 1 { "byte" } else { "bytes" };
                if write {
                    format!("write {addr:#x} ({len} {unit}) = {value:#x}")
                } else {
                    format!("read {addr:#x} ({len} {unit})")
                }
            }
        }
    }
}

/// A vCPU's tracer.
pub struct Tracer {
    pub config: std::sync::Arc<TraceConfig>,
    vcpu: usize,
    count: u64,
    last: Instant,
}

impl Tracer {
    pub fn new(config: std::sync::Arc<TraceConfig>, vcpu: usize) -> Tracer {
        let last = config.start;
        Tracer {
            config,
            vcpu,
            count: 0,
            last,
        }
    }

    /// Prints one exit's line if its class is selected: `events`, what the devices did, and
    /// `outcome`, what the run loop does next, in words; `regs`/`sregs` say where the guest was.
    pub fn exit(
        &mut self,
        summary: &ExitSummary,
        events: &[crate::devices::DeviceEvent],
        outcome: Option<&str>,
        regs: Option<&kvm_regs>,
        sregs: Option<&kvm_sregs>,
    ) {
        // Kicks are not numbered: the numbers count the guest's own exits, the same in every
        // run, whether or not the host was slow enough for a kick to land in between.
        let kick = summary.class == KICK;
        if !kick {
            self.count += 1;
        }
        let now = Instant::now();
        let delta = now - self.last;
        self.last = now;
        if !self.config.wants(summary.class) {
            return;
        }
        let number = if kick {
            "-".to_string()
        } else {
            self.count.to_string()
        };
        let mut line = format!(
            "[{}] #{:<5} +{:.3}ms  {:<14} {:<22}",
            self.vcpu,
            number,
            delta.as_secs_f64() * 1e3,
            summary.name,
            summary.raw_text()
        );
        let mut note = words::describe(events);
        if let Some(outcome) = outcome {
            if !note.is_empty() {
                note.push_str(": ");
            }
            note.push_str(outcome);
        }
        if !note.is_empty() {
            let _ = write!(line, " {note}");
        }
        if let (Some(regs), Some(sregs)) = (regs, sregs) {
            let at = location(regs, sregs);
            let at = at.strip_prefix("CS:IP ").unwrap_or(&at);
            let _ = write!(line, "  at {at}");
        }
        crate::console::errout::trace(line.trim_end());
    }
}

impl Tracer {
    /// One line for a drained batch of coalesced THR writes: how many, and what they sent.
    /// Not numbered: the numbers count exits, and these writes made none.
    pub fn coalesced(&mut self, writes: u32, sent: &[u8]) {
        let now = Instant::now();
        let delta = now - self.last;
        self.last = now;
        if !self.config.wants(IO | UART) {
            return;
        }
        let mut text = String::new();
        for &b in sent {
            match b {
                b'\n' => text.push_str("\\n"),
                b'\r' => text.push_str("\\r"),
                b'"' => text.push_str("\\\""),
                0x20..=0x7E => text.push(b as char),
                _ => {
                    let _ = write!(text, "\\x{b:02x}");
                }
            }
        }
        let raw = format!("{writes} x out {:#06x}", crate::devices::com1::COM1_FIRST);
        let plural = if writes == 1 { "" } else { "s" };
        let mut note = format!("{writes} write{plural} from the ring, no exit");
        if !sent.is_empty() {
            let _ = write!(note, ": THR \"{text}\"");
        }
        let other = writes as usize - sent.len().min(writes as usize);
        if other > 0 {
            let _ = write!(note, "; {other} to DLL (DLAB set)");
        }
        let line = format!(
            "[{}] {:<6} +{:.3}ms  {:<14} {:<22} {note}",
            self.vcpu,
            "ring",
            delta.as_secs_f64() * 1e3,
            "COALESCED PIO",
            raw
        );
        crate::console::errout::trace(&line);
    }
}

/// A printable form of a guest byte: 'H', '\n', 0x07.
pub fn byte_text(b: u8) -> String {
    match b {
        b'\n' => "'\\n'".into(),
        b'\r' => "'\\r'".into(),
        b'\t' => "'\\t'".into(),
        0x20..=0x7E => format!("'{}'", b as char),
        _ => format!("{b:#04x}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kvm::ExitRegs;

    #[test]
    fn classes_parse_and_unknown_ones_are_named() {
        assert_eq!(parse_classes(None), Ok(ALL & !KICK));
        assert_eq!(parse_classes(Some("hlt")), Ok(HLT));
        assert_eq!(parse_classes(Some("io,uart")), Ok(IO | UART));
        assert_eq!(parse_classes(Some("all")), Ok(ALL));
        assert!(parse_classes(Some("bogus"))
            .unwrap_err()
            .contains("'bogus'"));
        assert!(parse_classes(Some("")).is_err());
        // One bit per class, no two alike.
        let bits: Vec<u32> = CLASSES.iter().map(|c| c.1).collect();
        assert!(bits.iter().all(|b| b.count_ones() == 1));
        assert_eq!(
            bits.iter().fold(0, |a, b| a | b).count_ones() as usize,
            bits.len()
        );
    }

    #[test]
    fn raw_fields_read_like_the_instruction() {
        let regs = kvm_regs::default();
        let out = VmExit::IoOut {
            port: 0x500,
            size: 1,
            data: &[1],
            regs: ExitRegs::Synced(&regs),
        };
        let s = ExitSummary::of(&out);
        assert_eq!(
            (s.name, s.raw_text()),
            ("KVM_EXIT_IO", "out 0x0500 al=0x01".into())
        );
        assert_eq!(s.class, IO | HYPERCALL);
        let mut data = [0u8; 2];
        let s = ExitSummary::of(&VmExit::IoIn {
            port: 0x3FD,
            size: 2,
            data: &mut data,
        });
        assert_eq!((s.raw_text(), s.class), ("in  0x03fd".into(), IO | UART));
        let outs = VmExit::IoOut {
            port: 0x3F8,
            size: 1,
            data: b"abc",
            regs: ExitRegs::Synced(&regs),
        };
        assert_eq!(ExitSummary::of(&outs).raw_text(), "outs 0x03f8 3 x 1 bytes");
        let w = ExitSummary::of(&VmExit::MmioWrite {
            addr: 0xFEE0_00B0,
            data: &[0, 0, 0, 0],
        });
        assert_eq!(w.raw_text(), "write 0xfee000b0 (4 bytes) = 0x0");
        let mut b = [0u8; 1];
        let r = ExitSummary::of(&VmExit::MmioRead {
            addr: 0xFFFF0,
            data: &mut b,
        });
        assert_eq!(r.raw_text(), "read 0xffff0 (1 byte)");
        assert_eq!(ExitSummary::of(&VmExit::Hlt).class, HLT);
    }

    #[test]
    fn bytes_print_readably() {
        assert_eq!(byte_text(b'H'), "'H'");
        assert_eq!(byte_text(b'\n'), "'\\n'");
        assert_eq!(byte_text(7), "0x07");
    }
}
