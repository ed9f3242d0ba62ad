//! COM1: the 16550A state machine wired to the host — input queue, IRQ 4 and carrier detect.
//!
//! [`super::uart::Uart`] knows only registers. This file connects its three edges:
//! * **receive**: host bytes move from the input queue into the UART's receive FIFO only as fast
//!   as the FIFO has room (flow control, so the guest never sees an overrun from the host), and
//!   only once the guest uses the receive side (reads RBR/LSR/IIR/MSR or enables the receive
//!   interrupt) — so a guest that reads input through the hypercall port gets every byte.
//! * **carrier**: when the host's input has ended and the FIFO holds everything, DCD drops (MSR
//!   bit 7), as a modem does when the line hangs up; a driver can tell "no more input" from
//!   "no input yet".
//! * **interrupt**: the UART's interrupt output drives IRQ 4 of the in-kernel PIC through
//!   KVM_IRQ_LINE (api.rst 4.25) when the VM has one; the line is only touched when its level
//!   changes. Without an irqchip the guest polls LSR.

use super::uart::{self, Uart, COM1_BASE, COM1_IRQ, RX_FIFO_SIZE};
use crate::console::HostInput;
use crate::kvm::Vm;
use crate::trace::{TraceConfig, IRQ};
use std::sync::Arc;

pub const COM1_FIRST: u16 = COM1_BASE;
pub const COM1_LAST: u16 = COM1_BASE + 7;

/// Register offsets whose reads show the guest is using the receive side.
const RBR: u8 = 0;
const IER: u8 = 1;
const IIR: u8 = 2;
const FCR: u8 = 2;
const MCR: u8 = 4;
const LSR: u8 = 5;
const MSR: u8 = 6;
/// IER bit 0: interrupt when received data is available.
const IER_ERBFI: u8 = 1 << 0;

pub struct Com1 {
    uart: Uart,
    input: Arc<HostInput>,
    /// The VM, when it has an in-kernel irqchip to receive IRQ 4.
    irqchip: Option<Arc<Vm>>,
    irq_level: bool,
    receiving: bool,
    carrier: bool,
    /// How many times the IRQ line went high (for --stats).
    pub interrupts: u64,
    trace: Option<Arc<TraceConfig>>,
}

/// A register's bits in words, for --trace ("THRE TEMT" for LSR 0x60).
pub fn describe_register(name: &str, value: u8) -> String {
    match name {
        "LSR" => uart::describe_lsr(value),
        "MSR" => uart::describe_msr(value),
        "IIR" => uart::describe_iir(value),
        _ => String::new(),
    }
}

impl Com1 {
    pub fn new(input: Arc<HostInput>) -> Com1 {
        Com1 {
            uart: Uart::new(),
            input,
            irqchip: None,
            irq_level: false,
            receiving: false,
            carrier: true,
            interrupts: 0,
            trace: None,
        }
    }

    /// Reports IRQ 4 level changes on stderr (`--trace=irq`).
    pub fn trace_irq(&mut self, config: Arc<TraceConfig>) {
        self.trace = Some(config);
    }

    /// The datasheet name of register `offset` for a read or write, under the current DLAB.
    pub fn register_name(&self, offset: u8, is_write: bool) -> &'static str {
        self.uart.register_name(offset, is_write)
    }

    /// Wires the interrupt output to IRQ 4 of the VM's in-kernel PIC.
    pub fn connect_irq(&mut self, vm: Arc<Vm>) {
        self.irqchip = Some(vm);
    }

    /// A guest read of register `offset` (0-7).
    pub fn read(&mut self, offset: u8) -> u8 {
        // Only the receive-side registers need host bytes moved in first; a read of SCR, say,
        // costs no look at the input queue.
        if matches!(offset, RBR | IIR | LSR | MSR) {
            self.receiving = true;
            self.refill();
        }
        let value = self.uart.read(offset);
        self.update_irq();
        value
    }

    /// A guest write; returns the byte transmitted towards the host, if any.
    pub fn write(&mut self, offset: u8, value: u8) -> Option<u8> {
        let sent = self.uart.write(offset, value);
        if self.uart.ier() & IER_ERBFI != 0 {
            self.receiving = true;
        }
        // Enabling interrupts or resetting the FIFO can make room or interest for host bytes.
        if matches!(offset, IER | FCR | MCR) {
            self.refill();
        }
        self.update_irq();
        sent
    }

    /// The stdin thread calls this after bytes arrived or input ended.
    pub fn input_arrived(&mut self) {
        if self.receiving {
            self.refill();
            self.update_irq();
        }
    }

    /// Moves host bytes into the receive FIFO while it has room; drops DCD at end of input.
    fn refill(&mut self) {
        if !self.receiving {
            return;
        }
        let mut buf = [0u8; RX_FIFO_SIZE];
        let room = self.uart.rx_room().min(buf.len());
        let (n, ended) = self.input.take(&mut buf[..room]);
        if n > 0 {
            self.uart.receive(&buf[..n]);
        }
        if ended && self.carrier {
            self.carrier = false;
            self.uart.set_carrier(false);
        }
    }

    fn update_irq(&mut self) {
        let level = self.uart.irq_line();
        if level == self.irq_level {
            return;
        }
        self.irq_level = level;
        if level {
            self.interrupts += 1;
        }
        if let Some(vm) = &self.irqchip {
            // KVM_IRQ_LINE only fails if the irqchip is gone; the guest would then poll.
            let _ = vm.irq_line(COM1_IRQ, level);
            if let Some(trace) = &self.trace {
                let what = if level { "raised" } else { "lowered" };
                trace.event(
                    IRQ,
                    &format!(
                        "IRQ {COM1_IRQ} {what} (KVM_IRQ_LINE): COM1 interrupt {}",
                        if level { "pending" } else { "cleared" }
                    ),
                );
            }
        }
    }
}
