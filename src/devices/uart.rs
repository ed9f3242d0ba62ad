//! A 16550A UART as a pure state machine: registers in, bytes and an interrupt level out.
//!
//! Reference: Texas Instruments (formerly National Semiconductor) "PC16550D Universal
//! Asynchronous Receiver/Transmitter with FIFOs" datasheet: section 8.0 "Registers" (Table 2,
//! the register map), 8.4 "Line Status Register", 8.6 "FIFO Control Register", 8.7 "Interrupt
//! Identification Register" (Table 4, the priorities), 8.8 "Interrupt Enable Register", 8.9
//! "Modem Control Register" (loopback), 8.10 "Modem Status Register". The PC's COM1 is one of
//! these at I/O ports 0x3F8-0x3FF, wired to IRQ 4.
//!
//! | offset | read (DLAB = 0)               | write (DLAB = 0)           | with LCR.DLAB = 1 |
//! |--------|-------------------------------|----------------------------|-------------------|
//! | 0      | RBR receiver buffer           | THR transmitter holding    | DLL divisor low   |
//! | 1      | IER interrupt enable          | IER                        | DLM divisor high  |
//! | 2      | IIR interrupt identification  | FCR FIFO control           |                   |
//! | 3      | LCR line control              | LCR                        |                   |
//! | 4      | MCR modem control             | MCR                        |                   |
//! | 5      | LSR line status               | (factory test: ignored)    |                   |
//! | 6      | MSR modem status              | (read-only: ignored)       |                   |
//! | 7      | SCR scratch                   | SCR                        |                   |
//!
//! No KVM, no threads, no I/O here: `com1.rs` connects this to the host, so every register can
//! be tested by feeding bytes and reading results. Two simplifications, both invisible to a
//! driver: the transmitter is infinitely fast (a THR byte leaves at once, so THRE and TEMT stay
//! set), and with no baud clock the character-timeout indication is reported whenever received
//! data sits below the FIFO trigger level.

use crate::x86::bit_names;
use std::collections::VecDeque;

/// COM1's I/O base and IRQ on a PC.
pub const COM1_BASE: u16 = 0x3F8;
pub const COM1_IRQ: u32 = 4;
/// The 16550A's receive FIFO holds 16 bytes.
pub const RX_FIFO_SIZE: usize = 16;

// Register offsets.
pub(super) const RBR_THR_DLL: u8 = 0;
pub(super) const IER_DLM: u8 = 1;
pub(super) const IIR_FCR: u8 = 2;
pub(super) const LCR: u8 = 3;
pub(super) const MCR: u8 = 4;
pub(super) const LSR: u8 = 5;
pub(super) const MSR: u8 = 6;
pub(super) const SCR: u8 = 7;

// IER: which events may interrupt.
pub(super) const IER_ERBFI: u8 = 1 << 0; // received data available (and character timeout)
pub(crate) const IER_ETBEI: u8 = 1 << 1; // transmitter holding register empty
const IER_ELSI: u8 = 1 << 2; // receiver line status (overrun...)
const IER_EDSSI: u8 = 1 << 3; // modem status change
const IER_MASK: u8 = 0x0F;

// IIR: the highest-priority pending interrupt (bit 0 = 1: none).
const IIR_NONE: u8 = 0x01;
const IIR_LINE_STATUS: u8 = 0x06;
const IIR_RX_DATA: u8 = 0x04;
const IIR_RX_TIMEOUT: u8 = 0x0C;
const IIR_THR_EMPTY: u8 = 0x02;
const IIR_MODEM_STATUS: u8 = 0x00;
const IIR_FIFOS_ENABLED: u8 = 0xC0;

// FCR.
const FCR_ENABLE: u8 = 1 << 0;
const FCR_CLEAR_RX: u8 = 1 << 1;
/// Bits 7:6, the receive FIFO's interrupt trigger level.
const FCR_TRIGGER: u8 = 0xC0;

// LCR.
const LCR_DLAB: u8 = 1 << 7;

// MCR.
const MCR_DTR: u8 = 1 << 0;
const MCR_RTS: u8 = 1 << 1;
const MCR_OUT1: u8 = 1 << 2;
const MCR_OUT2: u8 = 1 << 3;
const MCR_LOOP: u8 = 1 << 4;
const MCR_MASK: u8 = 0x1F;

// LSR.
const LSR_DR: u8 = 1 << 0; // data ready
const LSR_OE: u8 = 1 << 1; // overrun error
const LSR_THRE: u8 = 1 << 5; // transmitter holding register empty
const LSR_TEMT: u8 = 1 << 6; // transmitter empty

// MSR: delta bits (low nibble) and line states (high nibble).
const MSR_DCTS: u8 = 1 << 0;
const MSR_DDSR: u8 = 1 << 1;
const MSR_TERI: u8 = 1 << 2;
const MSR_DDCD: u8 = 1 << 3;
const MSR_CTS: u8 = 1 << 4;
const MSR_DSR: u8 = 1 << 5;
const MSR_RI: u8 = 1 << 6;
const MSR_DCD: u8 = 1 << 7;

/// A 16550A.
#[derive(Debug, Clone)]
pub struct Uart {
    rx: VecDeque<u8>,
    ier: u8,
    fcr: u8,
    lcr: u8,
    mcr: u8,
    /// Only the bits the UART itself latches: OE.
    lsr_errors: u8,
    /// The modem lines as the host drives them (CTS, DSR, DCD, RI) outside loopback.
    modem_lines: u8,
    /// MSR's delta bits, cleared by reading MSR.
    msr_deltas: u8,
    scr: u8,
    dll: u8,
    dlm: u8,
    /// "THR empty" interrupt is pending (datasheet: set when THR empties, cleared by reading IIR
    /// while it is the reported source, or by writing THR).
    thre_pending: bool,
}

impl Default for Uart {
    fn default() -> Uart {
        Uart::new()
    }
}

impl Uart {
    /// The state after a master reset (datasheet Table 3 "UART Reset Configuration"), with the
    /// host's modem lines up: CTS, DSR and DCD, so MSR reads 0xB0 as a connected modem shows.
    pub fn new() -> Uart {
        Uart {
            rx: VecDeque::with_capacity(RX_FIFO_SIZE),
            ier: 0,
            fcr: 0,
            lcr: 0,
            mcr: 0,
            lsr_errors: 0,
            modem_lines: MSR_CTS | MSR_DSR | MSR_DCD,
            msr_deltas: 0,
            scr: 0,
            // 115200 baud from the PC's 1.8432 MHz clock: divisor 1 (the reset divisor is
            // undefined in the datasheet; this is what firmware usually leaves behind).
            dll: 1,
            dlm: 0,
            thre_pending: false,
        }
    }

    fn dlab(&self) -> bool {
        self.lcr & LCR_DLAB != 0
    }

    fn fifo_enabled(&self) -> bool {
        self.fcr & FCR_ENABLE != 0
    }

    pub fn loopback(&self) -> bool {
        self.mcr & MCR_LOOP != 0
    }

    /// Receive capacity: 16 bytes with FIFOs on, the single holding register without.
    fn rx_capacity(&self) -> usize {
        if self.fifo_enabled() {
            RX_FIFO_SIZE
        } else {
            1
        }
    }

    /// FCR bits 7:6 ([`FCR_TRIGGER`]) select how full the FIFO must be before a received-data
    /// interrupt.
    fn trigger_level(&self) -> usize {
        if !self.fifo_enabled() {
            return 1;
        }
        match self.fcr >> 6 {
            0 => 1,
            1 => 4,
            2 => 8,
            _ => 14,
        }
    }

    /// MSR's line-state nibble: the host's lines, or in loopback MCR's outputs fed back
    /// (RTS -> CTS, DTR -> DSR, OUT1 -> RI, OUT2 -> DCD).
    fn msr_lines(&self) -> u8 {
        if self.loopback() {
            let m = self.mcr;
            let mut v = 0;
            if m & MCR_RTS != 0 {
                v |= MSR_CTS;
            }
            if m & MCR_DTR != 0 {
                v |= MSR_DSR;
            }
            if m & MCR_OUT1 != 0 {
                v |= MSR_RI;
            }
            if m & MCR_OUT2 != 0 {
                v |= MSR_DCD;
            }
            v
        } else {
            self.modem_lines
        }
    }

    /// Records delta bits for a change of the line-state nibble from `old` to `new`.
    fn note_line_change(&mut self, old: u8, new: u8) {
        let changed = old ^ new;
        if changed & MSR_CTS != 0 {
            self.msr_deltas |= MSR_DCTS;
        }
        if changed & MSR_DSR != 0 {
            self.msr_deltas |= MSR_DDSR;
        }
        // TERI: trailing edge of RI only (RI went from 1 to 0).
        if old & MSR_RI != 0 && new & MSR_RI == 0 {
            self.msr_deltas |= MSR_TERI;
        }
        if changed & MSR_DCD != 0 {
            self.msr_deltas |= MSR_DDCD;
        }
    }

    fn lsr(&self) -> u8 {
        let mut v = LSR_THRE | LSR_TEMT | self.lsr_errors;
        if !self.rx.is_empty() {
            v |= LSR_DR;
        }
        v
    }

    /// The highest-priority pending and enabled interrupt (datasheet Table 4).
    fn pending(&self) -> u8 {
        let ier = self.ier;
        if ier & IER_ELSI != 0 && self.lsr_errors & LSR_OE != 0 {
            IIR_LINE_STATUS
        } else if ier & IER_ERBFI != 0 && self.rx.len() >= self.trigger_level() {
            IIR_RX_DATA
        } else if ier & IER_ERBFI != 0 && !self.rx.is_empty() {
            IIR_RX_TIMEOUT
        } else if ier & IER_ETBEI != 0 && self.thre_pending {
            IIR_THR_EMPTY
        } else if ier & IER_EDSSI != 0 && self.msr_deltas != 0 {
            IIR_MODEM_STATUS
        } else {
            IIR_NONE
        }
    }

    /// Puts one byte into the receive FIFO; a full FIFO overruns (LSR.OE), losing the byte.
    fn push_rx(&mut self, byte: u8) {
        if self.rx.len() < self.rx_capacity() {
            self.rx.push_back(byte);
        } else {
            self.lsr_errors |= LSR_OE;
        }
    }

    /// A guest read of the register at `offset` (0..=7; anything else reads 0xFF).
    pub fn read(&mut self, offset: u8) -> u8 {
        match offset {
            RBR_THR_DLL if self.dlab() => self.dll,
            RBR_THR_DLL => self.rx.pop_front().unwrap_or(0),
            IER_DLM if self.dlab() => self.dlm,
            IER_DLM => self.ier,
            IIR_FCR => {
                let id = self.pending();
                // Reading IIR acknowledges a THR-empty interrupt it reports.
                if id == IIR_THR_EMPTY {
                    self.thre_pending = false;
                }
                let fifo_bits = if self.fifo_enabled() {
                    IIR_FIFOS_ENABLED
                } else {
                    0
                };
                id | fifo_bits
            }
            LCR => self.lcr,
            MCR => self.mcr,
            LSR => {
                let v = self.lsr();
                // Error bits clear when LSR is read.
                self.lsr_errors = 0;
                v
            }
            MSR => {
                let v = self.msr_lines() | self.msr_deltas;
                self.msr_deltas = 0;
                v
            }
            SCR => self.scr,
            _ => 0xFF,
        }
    }

    /// A guest write. Returns the byte that leaves towards the host (a THR write outside
    /// loopback).
    // [tour:uart-write]
    pub fn write(&mut self, offset: u8, value: u8) -> Option<u8> {
        match offset {
            RBR_THR_DLL if self.dlab() => self.dll = value,
            RBR_THR_DLL => {
                // The byte leaves at once, so THR is empty again right away: the THRE
                // interrupt is raised even though the host may still be writing it, so a
                // guest driver waiting for THRE never blocks.
                self.thre_pending = true;
                if self.loopback() {
                    self.push_rx(value);
                    return None;
                }
                return Some(value);
            }
            IER_DLM if self.dlab() => self.dlm = value,
            IER_DLM => {
                let before = self.ier;
                self.ier = value & IER_MASK;
                // Enabling ETBEI while THR is empty raises the interrupt at once.
                if before & IER_ETBEI == 0 && self.ier & IER_ETBEI != 0 {
                    self.thre_pending = true;
                }
            }
            IIR_FCR => {
                let was_enabled = self.fifo_enabled();
                if value & FCR_ENABLE != was_enabled as u8 {
                    // Switching FIFO mode on or off empties both FIFOs.
                    self.rx.clear();
                }
                if value & FCR_CLEAR_RX != 0 {
                    self.rx.clear();
                }
                // Bit 2 would clear the transmit FIFO, which is always empty here: every THR
                // write leaves at once. The clear bits act once and are not kept, nor is
                // DMA mode (bit 3).
                self.fcr = value & (FCR_TRIGGER | FCR_ENABLE);
            }
            LCR => self.lcr = value,
            MCR => {
                let old = self.msr_lines();
                self.mcr = value & MCR_MASK;
                let new = self.msr_lines();
                self.note_line_change(old, new);
            }
            SCR => self.scr = value,
            _ => {} // LSR and MSR are read-only
        }
        None
    }
    // [/tour:uart-write]

    /// Host -> guest: takes as many of `bytes` as the receive FIFO has room for.
    pub fn receive(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.rx_room());
        for &b in &bytes[..n] {
            self.push_rx(b);
        }
        n
    }

    /// Free space in the receive FIFO.
    pub fn rx_room(&self) -> usize {
        self.rx_capacity().saturating_sub(self.rx.len())
    }

    /// The host's carrier: `false` when its input has ended (DCD drops, DDCD is set and a
    /// modem-status interrupt follows if enabled).
    pub fn set_carrier(&mut self, present: bool) {
        let old = self.msr_lines();
        if present {
            self.modem_lines |= MSR_DCD;
        } else {
            self.modem_lines &= !MSR_DCD;
        }
        let new = self.msr_lines();
        self.note_line_change(old, new);
    }

    /// The interrupt output as a PC wires it: a pending interrupt reaches the PIC only through
    /// MCR.OUT2's gate, and in loopback the output is disconnected.
    pub fn irq_line(&self) -> bool {
        self.pending() != IIR_NONE && self.mcr & MCR_OUT2 != 0 && !self.loopback()
    }

    /// The interrupt enable register (for the host side to see what the guest listens for).
    pub fn ier(&self) -> u8 {
        self.ier
    }

    /// The datasheet name of the register at `offset` for a read or write, under current DLAB.
    pub fn register_name(&self, offset: u8, is_write: bool) -> &'static str {
        match (offset, is_write, self.dlab()) {
            (0, _, true) => "DLL",
            (1, _, true) => "DLM",
            (0, false, false) => "RBR",
            (0, true, false) => "THR",
            (1, _, false) => "IER",
            (2, false, _) => "IIR",
            (2, true, _) => "FCR",
            (3, _, _) => "LCR",
            (4, _, _) => "MCR",
            (5, _, _) => "LSR",
            (6, _, _) => "MSR",
            (7, _, _) => "SCR",
            _ => "?",
        }
    }
}

/// LSR bits as words: 0x60 -> "THRE TEMT", 0x61 -> "DR THRE TEMT".
pub fn describe_lsr(value: u8) -> String {
    bit_names(
        value,
        &[
            (LSR_DR, "DR"),
            (LSR_OE, "OE"),
            (1 << 2, "PE"),
            (1 << 3, "FE"),
            (1 << 4, "BI"),
            (LSR_THRE, "THRE"),
            (LSR_TEMT, "TEMT"),
            (1 << 7, "FIFOERR"),
        ],
    )
}

/// MSR bits as words: 0xB0 -> "CTS DSR DCD".
pub fn describe_msr(value: u8) -> String {
    bit_names(
        value,
        &[
            (MSR_DCTS, "DCTS"),
            (MSR_DDSR, "DDSR"),
            (MSR_TERI, "TERI"),
            (MSR_DDCD, "DDCD"),
            (MSR_CTS, "CTS"),
            (MSR_DSR, "DSR"),
            (MSR_RI, "RI"),
            (MSR_DCD, "DCD"),
        ],
    )
}

/// IIR as words: which interrupt is pending.
pub fn describe_iir(value: u8) -> String {
    let what = match value & 0x0F {
        IIR_NONE => "no interrupt",
        IIR_LINE_STATUS => "line status",
        IIR_RX_DATA => "received data",
        IIR_RX_TIMEOUT => "character timeout",
        IIR_THR_EMPTY => "THR empty",
        IIR_MODEM_STATUS => "modem status",
        _ => "?",
    };
    if value & IIR_FIFOS_ENABLED != 0 {
        format!("{what}, FIFOs on")
    } else {
        what.to_string()
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod props;
