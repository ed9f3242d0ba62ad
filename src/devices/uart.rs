//! COM1: a 16550A UART as a pure state machine, and its wiring to host input and an IRQ line.
//!
//! Reference: the National Semiconductor (now TI) "PC16550D UART with FIFOs" datasheet,
//! section 8: Table 2 (the register map), 8.4 LSR, 8.6 FCR, 8.7 IIR (Table 4, priorities),
//! 8.8 IER, 8.9 MCR (loopback), 8.10 MSR. A PC's COM1 is one at ports 0x3F8-0x3FF, on IRQ 4.
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
//! Two simplifications, invisible to a driver: the transmitter is infinitely fast (a THR byte
//! leaves at once, so THRE and TEMT stay set), and with no baud clock the character-timeout
//! indication is given whenever received data sits below the FIFO's trigger level.

use super::{ByteSource, IrqLine};
use std::collections::VecDeque;
use std::sync::Arc;

/// COM1's first port and its IRQ on a PC.
pub const COM1_BASE: u16 = 0x3F8;
pub const COM1_IRQ: u32 = 4;
/// The 16550A's receive FIFO holds 16 bytes.
pub const RX_FIFO_SIZE: usize = 16;

// Register offsets.
pub const RBR_THR: u8 = 0;
pub const IER: u8 = 1;
pub const IIR_FCR: u8 = 2;
pub const LCR: u8 = 3;
pub const MCR: u8 = 4;
pub const LSR: u8 = 5;
pub const MSR: u8 = 6;
pub const SCR: u8 = 7;

pub const IER_ERBFI: u8 = 1 << 0; // received data available (and character timeout)
pub const IER_ETBEI: u8 = 1 << 1; // transmitter holding register empty
const IER_ELSI: u8 = 1 << 2; // receiver line status (overrun)
const IER_EDSSI: u8 = 1 << 3; // modem status change

// IIR: the highest-priority pending interrupt (bit 0 set: none), FIFOs-on in bits 7:6.
pub const IIR_NONE: u8 = 0x01;
const IIR_LINE_STATUS: u8 = 0x06;
const IIR_RX_DATA: u8 = 0x04;
const IIR_RX_TIMEOUT: u8 = 0x0C;
const IIR_THR_EMPTY: u8 = 0x02;
const IIR_MODEM_STATUS: u8 = 0x00;
const IIR_FIFOS_ENABLED: u8 = 0xC0;

const FCR_ENABLE: u8 = 1 << 0;
const FCR_CLEAR_RX: u8 = 1 << 1;
const FCR_TRIGGER: u8 = 0xC0; // bits 7:6: interrupt at 1, 4, 8 or 14 bytes

pub const LCR_DLAB: u8 = 1 << 7; // divisor latch access

const MCR_DTR: u8 = 1 << 0;
const MCR_RTS: u8 = 1 << 1;
const MCR_OUT1: u8 = 1 << 2;
const MCR_OUT2: u8 = 1 << 3; // on a PC: gates the UART's interrupt onto the bus
pub const MCR_LOOP: u8 = 1 << 4;

pub const LSR_DR: u8 = 1 << 0; // data ready
pub const LSR_OE: u8 = 1 << 1; // overrun error
pub const LSR_THRE: u8 = 1 << 5; // transmitter holding register empty
pub const LSR_TEMT: u8 = 1 << 6; // transmitter empty

pub const MSR_DCTS: u8 = 1 << 0; // the deltas: a line changed since MSR was last read
pub const MSR_DDSR: u8 = 1 << 1;
pub const MSR_TERI: u8 = 1 << 2;
pub const MSR_DDCD: u8 = 1 << 3;
pub const MSR_CTS: u8 = 1 << 4;
pub const MSR_DSR: u8 = 1 << 5;
pub const MSR_RI: u8 = 1 << 6;
pub const MSR_DCD: u8 = 1 << 7; // data carrier detect: dropped when host input ends

/// The 16550A's registers.
#[derive(Debug, Clone)]
pub struct Uart {
    rx: VecDeque<u8>,
    pub ier: u8,
    fcr: u8,
    pub lcr: u8,
    pub mcr: u8,
    lsr_errors: u8,
    lines: u8,
    msr_deltas: u8,
    scr: u8,
    dll: u8,
    dlm: u8,
    /// The THR-empty interrupt is pending until IIR is read or THR written again.
    thre_pending: bool,
}

impl Default for Uart {
    /// The datasheet's reset values, with a modem on the line (CTS, DSR, DCD).
    fn default() -> Uart {
        let (rx, lines) = (VecDeque::with_capacity(RX_FIFO_SIZE), MSR_CTS | MSR_DSR | MSR_DCD);
        Uart {
            rx,
            ier: 0,
            fcr: 0,
            lcr: 0,
            mcr: 0,
            lsr_errors: 0,
            lines,
            msr_deltas: 0,
            scr: 0,
            dll: 1,
            dlm: 0,
            thre_pending: false,
        }
    }
}

impl Uart {
    fn dlab(&self) -> bool {
        self.lcr & LCR_DLAB != 0
    }

    fn fifo(&self) -> bool {
        self.fcr & FCR_ENABLE != 0
    }

    pub fn loopback(&self) -> bool {
        self.mcr & MCR_LOOP != 0
    }

    /// The FIFO's interrupt trigger level (FCR bits 7:6); 1 with the FIFO off.
    fn trigger_level(&self) -> usize {
        match (self.fifo(), self.fcr >> 6) {
            (false, _) | (_, 0) => 1,
            (_, 1) => 4,
            (_, 2) => 8,
            _ => 14,
        }
    }

    /// MSR's line bits: the modem's, or in loopback MCR's outputs wired back in (8.9).
    fn msr_lines(&self) -> u8 {
        if !self.loopback() {
            return self.lines;
        }
        let wire = |mcr_bit, msr_bit| if self.mcr & mcr_bit != 0 { msr_bit } else { 0 };
        wire(MCR_RTS, MSR_CTS)
            | wire(MCR_DTR, MSR_DSR)
            | wire(MCR_OUT1, MSR_RI)
            | wire(MCR_OUT2, MSR_DCD)
    }

    /// Sets MSR's deltas for the lines that changed (TERI: RI's trailing edge only).
    fn lines_changed(&mut self, old: u8, new: u8) {
        let changed = old ^ new;
        let falling_ri = old & MSR_RI != 0 && new & MSR_RI == 0;
        self.msr_deltas |= (changed >> 4) & (MSR_DCTS | MSR_DDSR | MSR_DDCD);
        if falling_ri {
            self.msr_deltas |= MSR_TERI;
        }
    }

    /// The pending interrupt of highest priority (Table 4), or IIR_NONE.
    fn pending(&self) -> u8 {
        let enabled = |bit| self.ier & bit != 0;
        if enabled(IER_ELSI) && self.lsr_errors & LSR_OE != 0 {
            IIR_LINE_STATUS
        } else if enabled(IER_ERBFI) && self.rx.len() >= self.trigger_level() {
            IIR_RX_DATA
        } else if enabled(IER_ERBFI) && !self.rx.is_empty() {
            IIR_RX_TIMEOUT
        } else if enabled(IER_ETBEI) && self.thre_pending {
            IIR_THR_EMPTY
        } else if enabled(IER_EDSSI) && self.msr_deltas != 0 {
            IIR_MODEM_STATUS
        } else {
            IIR_NONE
        }
    }

    /// A received byte into the FIFO (one holding register with the FIFO off); a full FIFO
    /// overruns (LSR.OE) and the byte is lost, as on the chip.
    fn push_rx(&mut self, byte: u8) {
        if self.rx.len() < self.rx_capacity() {
            self.rx.push_back(byte);
        } else {
            self.lsr_errors |= LSR_OE;
        }
    }

    fn rx_capacity(&self) -> usize {
        if self.fifo() {
            RX_FIFO_SIZE
        } else {
            1
        }
    }

    /// How many received bytes fit now.
    pub fn rx_room(&self) -> usize {
        self.rx_capacity() - self.rx.len().min(self.rx_capacity())
    }

    /// A guest read of the register at `offset` (0-7).
    pub fn read(&mut self, offset: u8) -> u8 {
        match offset {
            RBR_THR if self.dlab() => self.dll,
            RBR_THR => self.rx.pop_front().unwrap_or(0),
            IER if self.dlab() => self.dlm,
            IER => self.ier,
            IIR_FCR => {
                let id = self.pending();
                // Reading IIR while it shows THR-empty clears that interrupt (8.7).
                self.thre_pending &= id != IIR_THR_EMPTY;
                id | if self.fifo() { IIR_FIFOS_ENABLED } else { 0 }
            }
            LCR => self.lcr,
            MCR => self.mcr,
            LSR => {
                let data = if self.rx.is_empty() { 0 } else { LSR_DR };
                let v = LSR_THRE | LSR_TEMT | self.lsr_errors | data;
                self.lsr_errors = 0; // reading LSR clears the error bits
                v
            }
            MSR => std::mem::take(&mut self.msr_deltas) | self.msr_lines(),
            SCR => self.scr,
            _ => 0xFF,
        }
    }

    // [tour:uart-write]
    /// A guest write to the register at `offset`; returns the byte transmitted, if any.
    pub fn write(&mut self, offset: u8, value: u8) -> Option<u8> {
        match offset {
            RBR_THR if self.dlab() => self.dll = value,
            RBR_THR => {
                self.thre_pending = true; // the byte leaves at once: THR is empty again
                if !self.loopback() {
                    return Some(value);
                }
                self.push_rx(value); // loopback: the transmitter feeds the receiver (8.9)
            }
            IER if self.dlab() => self.dlm = value,
            IER => {
                // Enabling ETBEI with THR empty raises the interrupt at once, as on the chip.
                self.thre_pending |= self.ier & IER_ETBEI == 0 && value & IER_ETBEI != 0;
                self.ier = value & 0x0F;
            }
            IIR_FCR => {
                if value & FCR_ENABLE != self.fcr & FCR_ENABLE || value & FCR_CLEAR_RX != 0 {
                    self.rx.clear(); // switching the FIFO on or off empties it, as does bit 1
                }
                self.fcr = value & (FCR_TRIGGER | FCR_ENABLE);
            }
            LCR => self.lcr = value,
            MCR => {
                let old = self.msr_lines();
                self.mcr = value & 0x1F;
                let new = self.msr_lines();
                self.lines_changed(old, new);
            }
            SCR => self.scr = value,
            _ => {} // LSR and MSR are read-only
        }
        None
    }
    // [/tour:uart-write]

    /// Bytes from the host arrive on the serial line; returns how many fitted.
    pub fn receive(&mut self, bytes: &[u8]) -> usize {
        let n = bytes.len().min(self.rx_room());
        bytes[..n].iter().for_each(|&b| self.push_rx(b));
        n
    }

    /// Data carrier detect: dropped when host input ends, so a driver can see the end.
    pub fn set_carrier(&mut self, present: bool) {
        let old = self.msr_lines();
        self.lines = if present { self.lines | MSR_DCD } else { self.lines & !MSR_DCD };
        let new = self.msr_lines();
        self.lines_changed(old, new);
    }

    /// The interrupt output as a PC wires it: a pending interrupt, gated by MCR.OUT2.
    pub fn irq_line(&self) -> bool {
        self.pending() != IIR_NONE && self.mcr & MCR_OUT2 != 0 && !self.loopback()
    }
}

/// COM1 as the machine sees it: the UART, the host input its receiver reads, and the IRQ line
/// its interrupt output drives (when the VM has an interrupt controller).
pub struct Com1 {
    pub uart: Uart,
    input: &'static dyn ByteSource,
    /// The IRQ line the interrupt output drives, when the VM has an interrupt controller.
    pub irq: Option<Arc<dyn IrqLine>>,
    level: bool,
    /// The guest has shown that it reads COM1: host input flows into the FIFO from now on.
    receiving: bool,
}

impl Com1 {
    pub fn new(input: &'static dyn ByteSource) -> Com1 {
        Com1 { uart: Uart::default(), input, irq: None, level: false, receiving: false }
    }

    /// Connects the UART's interrupt output to an IRQ line (the machine does this for a VM
    /// with an in-kernel interrupt controller).
    pub fn connect_irq(&mut self, line: Arc<dyn IrqLine>) {
        self.irq = Some(line);
    }

    /// A guest read at `offset`. Reading RBR, IIR, LSR or MSR shows the guest reads COM1.
    pub fn read(&mut self, offset: u8) -> u8 {
        if matches!(offset, RBR_THR | IIR_FCR | LSR | MSR) {
            self.receiving = true;
            self.refill();
        }
        let value = self.uart.read(offset);
        self.update_irq();
        value
    }

    /// A guest write at `offset`; returns the byte transmitted, if any.
    pub fn write(&mut self, offset: u8, value: u8) -> Option<u8> {
        let sent = self.uart.write(offset, value);
        self.receiving |= self.uart.ier & IER_ERBFI != 0;
        if matches!(offset, IER | IIR_FCR | MCR) {
            self.refill();
        }
        self.update_irq();
        sent
    }

    /// Host input has arrived (called from the stdin thread).
    pub fn input_arrived(&mut self) {
        self.refill();
        self.update_irq();
    }

    /// Moves waiting host input into the FIFO; drops DCD once input has ended.
    fn refill(&mut self) {
        if !self.receiving {
            return;
        }
        let mut buf = [0u8; RX_FIFO_SIZE];
        let room = self.uart.rx_room();
        let (n, ended) = self.input.take(&mut buf[..room]);
        self.uart.receive(&buf[..n]);
        if ended {
            self.uart.set_carrier(false);
        }
    }

    // [tour:update-irq]
    /// Drives the IRQ line when the UART's interrupt output changes level.
    fn update_irq(&mut self) {
        let level = self.uart.irq_line();
        if level != self.level {
            self.level = level;
            if let Some(line) = &self.irq {
                line.set_level(COM1_IRQ, level);
            }
        }
    }
    // [/tour:update-irq]
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod props;
