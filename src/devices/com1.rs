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
//! * **interrupt**: the UART's interrupt output drives IRQ 4 of the in-kernel PIC through an
//!   [`IrqLine`] (KVM_IRQ_LINE, api.rst 4.25) when the VM has one; the line is only touched
//!   when its level changes. Without an irqchip the guest polls LSR.

use super::uart::{self, Uart, COM1_BASE, COM1_IRQ, RX_FIFO_SIZE};
use super::{ByteSource, IrqLine};
use crate::kvm::{CoalescedRing, CoalescedWrite, KvmError, Vm};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

pub const COM1_FIRST: u16 = COM1_BASE;
pub const COM1_LAST: u16 = COM1_BASE + 7;

use uart::{IER_DLM, IER_ERBFI, IIR_FCR, LSR, MCR, MSR, RBR_THR_DLL};
/// The most entries one drain can return (the ring holds one less than its 170 slots).
pub const MAX_BATCH: usize = crate::kvm::bindings::KVM_COALESCED_MMIO_MAX as usize;

/// COM1's THR (port 0x3F8, one byte) as a coalesced PIO zone: while it is registered, a guest's
/// THR writes wait in KVM's ring instead of exiting, and COM1 applies them, in order, before
/// anything else touches the UART (see [`Com1::drain`]).
struct Coalescing {
    ring: CoalescedRing,
    vm: Arc<Vm>,
    /// Is the zone registered with KVM right now?
    registered: bool,
    /// THR writes that exited before the zone was first registered. The zone is registered
    /// only once a guest has shown it writes a lot ([`COALESCE_AFTER`]): a zone costs KVM
    /// a grace period (about 10 ms on a paravirtual KVM) when it goes away, more than a guest
    /// that prints a line saves.
    thr_exits: u32,
    thr_used: bool,
    /// Set once the zone was first registered: from then on the main thread watches the ring.
    engaged: Arc<AtomicBool>,
    /// Registrations and unregistrations so far. Each unregistration waits for a KVM grace
    /// period (milliseconds); a guest that flips IER.ETBEI all the time loses coalescing.
    changes: u32,
}

/// After this many zone changes, THR writes simply exit for the rest of the run.
const MAX_ZONE_CHANGES: u32 = 8;

/// THR writes that exit before the ring takes over: at about 9 us an exit, 512 exits cost
/// about what unregistering the zone at the end does.
pub const COALESCE_AFTER: u32 = 512;

pub struct Com1 {
    uart: Uart,
    input: Arc<dyn ByteSource>,
    /// IRQ 4 of the VM's interrupt controller, when it has one.
    irq: Option<Arc<dyn IrqLine>>,
    irq_level: bool,
    receiving: bool,
    carrier: bool,
    /// How many times the IRQ line went high (for --stats).
    pub interrupts: u64,
    coalescing: Option<Coalescing>,
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

/// One write from the ring, applied to the UART as the exit it replaced would have been: each
/// byte to its port under the UART's current state (DLAB set: DLL, not THR); a byte that leaves
/// is appended to `sent[*n]`.
pub fn apply_write(uart: &mut Uart, w: &CoalescedWrite, sent: &mut [u8; MAX_BATCH], n: &mut usize) {
    for (i, &byte) in w.data[..usize::from(w.len)].iter().enumerate() {
        let port = w.addr.wrapping_add(i as u64);
        if !w.pio || !(u64::from(COM1_FIRST)..=u64::from(COM1_LAST)).contains(&port) {
            continue; // not a zone of ours (none is ever registered)
        }
        if let Some(byte) = uart.write((port - u64::from(COM1_FIRST)) as u8, byte) {
            if *n < sent.len() {
                sent[*n] = byte;
                *n += 1;
            }
        }
    }
}

impl Com1 {
    pub fn new(input: Arc<dyn ByteSource>) -> Com1 {
        Com1 {
            uart: Uart::new(),
            input,
            irq: None,
            irq_level: false,
            receiving: false,
            carrier: true,
            interrupts: 0,
            coalescing: None,
        }
    }

    /// Lets THR writes wait in KVM's coalesced ring (`ring`, the VM's, seen through vCPU 0's
    /// mapping) whenever the UART's state allows it, from the guest's first THR write on.
    /// `engaged` is set when the zone is first registered.
    pub fn enable_coalescing(
        &mut self,
        ring: CoalescedRing,
        vm: Arc<Vm>,
        engaged: Arc<AtomicBool>,
    ) -> Result<(), KvmError> {
        self.coalescing = Some(Coalescing {
            ring,
            vm,
            registered: false,
            thr_exits: 0,
            thr_used: false,
            engaged,
            changes: 0,
        });
        Ok(())
    }

    /// May THR writes wait in the ring? Not while the guest can see a write's effect without
    /// an exit that would drain the ring first: a THR-empty interrupt (IER.ETBEI) that the
    /// in-kernel PIC delivers at once, or loopback (MCR.LOOP), whose bytes enter the receive
    /// FIFO alongside host input. DLAB needs nothing: the ring is applied in order under the
    /// LCR of its time, so a write to 0x3F8 with DLAB set is a DLL write, as on hardware.
    // [tour:zone-allowed]
    fn zone_allowed(&self) -> bool {
        self.uart.ier() & uart::IER_ETBEI == 0 && !self.uart.loopback()
    }
    // [/tour:zone-allowed]

    /// Registers or unregisters the THR zone to match the UART's state.
    fn update_zone(&mut self) -> Result<(), KvmError> {
        let allowed = self.zone_allowed();
        let Some(c) = &mut self.coalescing else {
            return Ok(());
        };
        let allowed = allowed && c.thr_used && c.changes < MAX_ZONE_CHANGES;
        if allowed == c.registered {
            return Ok(());
        }
        c.changes += 1;
        if allowed {
            c.vm.register_coalesced_pio(COM1_BASE, 1)?;
            c.engaged.store(true, Ordering::Release);
        } else {
            c.vm.unregister_coalesced_pio(COM1_BASE, 1)?;
        }
        c.registered = allowed;
        Ok(())
    }

    /// Unregisters the zone for good (the vCPU has stopped; the ring must be drained).
    pub fn stop_coalescing(&mut self) {
        if let Some(c) = &mut self.coalescing {
            if c.registered {
                let _ = c.vm.unregister_coalesced_pio(COM1_BASE, 1);
                c.registered = false;
            }
            c.changes = MAX_ZONE_CHANGES;
        }
    }

    /// Is the THR zone registered now?
    #[cfg(test)]
    pub fn coalescing_active(&self) -> bool {
        self.coalescing.as_ref().is_some_and(|c| c.registered)
    }

    /// Applies the writes waiting in the ring to the UART, oldest first, as if each had exited
    /// in its turn; the bytes they transmit go to `sent` (at most [`MAX_BATCH`]). Returns how
    /// many writes there were and how many bytes left.
    pub fn drain(&mut self, sent: &mut [u8; MAX_BATCH]) -> (u32, usize) {
        let Some(c) = &mut self.coalescing else {
            return (0, 0);
        };
        let uart = &mut self.uart;
        let mut n = 0;
        let count = c.ring.drain(|w| apply_write(uart, &w, sent, &mut n));
        if count > 0 {
            self.update_irq();
        }
        (count, n)
    }

    /// The datasheet name of register `offset` for a read or write, under the current DLAB.
    pub fn register_name(&self, offset: u8, is_write: bool) -> &'static str {
        self.uart.register_name(offset, is_write)
    }

    /// Wires the interrupt output to IRQ 4 of the VM's interrupt controller.
    pub fn connect_irq(&mut self, line: Arc<dyn IrqLine>) {
        self.irq = Some(line);
    }

    /// A guest read of register `offset` (0-7).
    pub fn read(&mut self, offset: u8) -> u8 {
        // Only the receive-side registers need host bytes moved in first; a read of SCR, say,
        // costs no look at the input queue.
        if matches!(offset, RBR_THR_DLL | IIR_FCR | LSR | MSR) {
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
        if sent.is_some() {
            if let Some(c) = &mut self.coalescing {
                if !c.thr_used {
                    c.thr_exits += 1;
                    if c.thr_exits >= COALESCE_AFTER {
                        c.thr_used = true;
                        let _ = self.update_zone();
                    }
                }
            }
        }
        if self.uart.ier() & IER_ERBFI != 0 {
            self.receiving = true;
        }
        // Enabling interrupts or resetting the FIFO can make room or interest for host bytes.
        if matches!(offset, IER_DLM | IIR_FCR | MCR) {
            self.refill();
            // IER.ETBEI and MCR.LOOP decide whether THR writes may be coalesced. Should KVM
            // refuse, writes keep exiting (or keep being coalesced), as before the change.
            let _ = self.update_zone();
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

    // [tour:update-irq]
    fn update_irq(&mut self) {
        let level = self.uart.irq_line();
        if level == self.irq_level {
            return;
        }
        self.irq_level = level;
        if level {
            self.interrupts += 1;
        }
        if let Some(line) = &self.irq {
            line.set_level(COM1_IRQ, level);
        }
    }
    // [/tour:update-irq]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A host input that has ended.
    struct NoInput;
    impl ByteSource for NoInput {
        fn take(&self, _: &mut [u8]) -> (usize, bool) {
            (0, true)
        }
        fn pop_timeout(&self, _: std::time::Duration) -> crate::devices::InputByte {
            crate::devices::InputByte::Ended
        }
    }

    fn thr(byte: u8) -> CoalescedWrite {
        CoalescedWrite {
            addr: 0x3F8,
            pio: true,
            data: [byte, 0, 0, 0, 0, 0, 0, 0],
            len: 1,
        }
    }

    #[test]
    fn ring_writes_applied_in_order_are_thr_or_dll_as_the_lcr_of_their_time_says() {
        let mut uart = Uart::new();
        let mut sent = [0u8; MAX_BATCH];
        let mut n = 0;
        // The guest wrote "AB" (coalesced), then set DLAB: that LCR write exits, and the ring
        // is drained before it is handled.
        for b in *b"AB" {
            apply_write(&mut uart, &thr(b), &mut sent, &mut n);
        }
        uart.write(3, 0x80);
        // Now a write to 0x3F8 (coalesced too) is the divisor's low byte: nothing leaves.
        apply_write(&mut uart, &thr(0x0C), &mut sent, &mut n);
        uart.write(3, 0x03);
        assert_eq!(uart.read(3), 0x03);
        uart.write(3, 0x83);
        assert_eq!(uart.read(0), 0x0C, "DLL took the coalesced write");
        uart.write(3, 0x03);
        apply_write(&mut uart, &thr(b'C'), &mut sent, &mut n);
        assert_eq!(&sent[..n], b"ABC");
        // The model ends where the same writes as exits leave it: THR empty, THRE pending.
        let mut direct = Uart::new();
        for (offset, value) in [(0, b'A'), (0, b'B'), (3, 0x80), (0, 0x0C), (3, 0x03)] {
            direct.write(offset, value);
        }
        direct.write(3, 0x83);
        direct.read(0);
        direct.write(3, 0x03);
        direct.write(0, b'C');
        assert_eq!(format!("{uart:?}"), format!("{direct:?}"));
    }

    #[test]
    fn writes_to_other_ports_or_mmio_are_not_applied() {
        let mut uart = Uart::new();
        let mut sent = [0u8; MAX_BATCH];
        let mut n = 0;
        let mut mmio = thr(b'x');
        mmio.pio = false;
        apply_write(&mut uart, &mmio, &mut sent, &mut n);
        let mut elsewhere = thr(b'y');
        elsewhere.addr = 0x2F8;
        apply_write(&mut uart, &elsewhere, &mut sent, &mut n);
        assert_eq!(n, 0);
    }

    #[test]
    fn the_zone_is_allowed_only_without_thr_interrupts_and_loopback() {
        let mut com1 = Com1::new(Arc::new(NoInput));
        assert!(com1.zone_allowed());
        com1.write(1, 0x02); // IER.ETBEI
        assert!(!com1.zone_allowed());
        com1.write(1, 0x01); // IER.ERBFI only
        assert!(com1.zone_allowed());
        com1.write(4, 0x10); // MCR.LOOP
        assert!(!com1.zone_allowed());
        com1.write(4, 0x0B);
        assert!(com1.zone_allowed());
        assert!(!com1.coalescing_active(), "no ring, nothing registered");
    }
}
