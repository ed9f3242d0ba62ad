//! Guest-visible devices, and the port-I/O bus that routes a KVM_EXIT_IO to them.
//!
//! On a PC the CPU's `in`/`out` instructions address a separate 64 KiB I/O space, and each
//! device decodes a range of ports. Under KVM every such access the kernel does not handle
//! itself becomes a KVM_EXIT_IO (api.rst 5): port, direction, access size (1, 2 or 4 bytes),
//! and a count for string instructions (`rep outsb`). The bus below is the whole "chipset":
//!
//! | ports         | device                                                        |
//! |---------------|---------------------------------------------------------------|
//! | 0x500         | hypercall port ([`hypercall`]; one per vCPU: vcpu.rs calls it)|
//! | 0x3F8-0x3FF   | COM1, a 16550A UART ([`uart`])                                |
//! | 0x92          | System Control Port A: the A20 gate, always on                |
//! | 0x64          | the i8042's command port: 0xFE resets the machine             |
//! | anything else | nothing: reads float high (all ones), writes vanish           |
//!
//! Ports nobody claims are not errors: OSes probe for hardware that is not there, and an ISA
//! bus with nothing driving it reads 0xFF. MMIO to an address with no memory slot
//! (KVM_EXIT_MMIO) goes to the MMIO devices layers add (virtio, RAM above 4 GiB), else reads
//! all ones. Devices are pure: no KVM, no terminal, no text. They get a sink for their output,
//! a source of input and an interrupt line, all traits below that the machine implements.

pub mod hypercall;
pub mod uart;

use crate::error::{Ending, Off};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use uart::{Com1, COM1_BASE};

/// Where the bytes a guest sends out go (one vCPU's stdout buffer: console.rs).
pub trait ByteSink {
    fn push(&mut self, byte: u8) -> Result<(), Ending>;
    /// The guest is about to wait for input: what it printed must be visible first.
    fn flush(&mut self) -> Result<(), Ending>;
}

/// One sink for several vCPUs (the one console of a kernel on several CPUs): a byte at a
/// time under its lock, so that bytes leave in the order the guest's CPUs sent them.
impl<S: ByteSink> ByteSink for Arc<Mutex<S>> {
    fn push(&mut self, byte: u8) -> Result<(), Ending> {
        self.lock().unwrap_or_else(|e| e.into_inner()).push(byte)
    }
    fn flush(&mut self) -> Result<(), Ending> {
        self.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

/// Output kept in memory: for probe guests and tests.
impl ByteSink for Vec<u8> {
    fn push(&mut self, byte: u8) -> Result<(), Ending> {
        Vec::push(self, byte);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), Ending> {
        Ok(())
    }
}

/// One byte of host input, as a guest asks for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Byte(u8),
    /// Nothing typed yet; more may come.
    NotYet,
    /// Input is at its end and every byte has been taken.
    Ended,
}

/// Where host input comes from (stdin: console.rs).
pub trait ByteSource: Send + Sync {
    /// Moves up to `buf.len()` waiting bytes into `buf`: how many, and whether input has ended
    /// (with every byte taken).
    fn take(&self, buf: &mut [u8]) -> (usize, bool);
    /// One byte, waiting a moment (a few ms) for it to arrive.
    fn pop(&self) -> Input;
}

/// The input of vCPUs other than vCPU 0, which gets stdin: it has ended.
pub struct Ended;

impl ByteSource for Ended {
    fn take(&self, _: &mut [u8]) -> (usize, bool) {
        (0, true)
    }
    fn pop(&self) -> Input {
        Input::Ended
    }
}

/// An input pin of the VM's interrupt controller (KVM_IRQ_LINE, api.rst 4.25).
pub trait IrqLine: Send + Sync {
    fn set_level(&self, irq: u32, high: bool);
}

/// A device some layer maps at guest-physical addresses: it answers the accesses it claims.
pub trait MmioDevice: Send + Sync {
    /// A load: `false` if the address is not this device's.
    fn read(&self, addr: u64, data: &mut [u8]) -> bool;
    /// A store: `false` if the address is not this device's.
    fn write(&self, addr: u64, data: &[u8]) -> bool;
}

/// System Control Port A (the PS/2 "fast A20" port); bit 1: the A20 line is on.
pub const PORT_SYSTEM_CONTROL_A: u16 = 0x92;
const A20_ENABLED: u8 = 1 << 1;
/// The i8042 keyboard controller's command port, and the command that pulses the CPU's reset
/// line (how a PC reboots without ACPI; Linux's reboot=k). Its status reads 0xFF here, which
/// Linux's i8042 driver takes as "no controller".
pub const PORT_I8042_COMMAND: u16 = 0x64;
const I8042_PULSE_RESET: u8 = 0xFE;

/// The devices of one VM, shared by its vCPUs.
pub struct Bus {
    /// COM1 comes to life at the guest's first access to it (the UART's reset state).
    com1: OnceLock<Mutex<Com1>>,
    input: &'static dyn ByteSource,
    system_control_a: AtomicU8,
    mmio: Vec<Arc<dyn MmioDevice>>,
}

impl Bus {
    /// The devices, COM1 reading `input`; no MMIO device yet.
    pub fn new(input: &'static dyn ByteSource) -> Bus {
        let a20 = AtomicU8::new(A20_ENABLED);
        Bus { com1: OnceLock::new(), input, system_control_a: a20, mmio: Vec::new() }
    }

    /// COM1, locked: one UART for every vCPU and the stdin thread.
    pub fn com1(&self) -> MutexGuard<'_, Com1> {
        let com1 = self.com1.get_or_init(|| Mutex::new(Com1::new(self.input)));
        // The registers stay consistent even if a thread panicked holding the lock.
        com1.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// COM1, if a guest (or the machine) has touched it yet.
    pub fn com1_if_on(&self) -> Option<MutexGuard<'_, Com1>> {
        Some(self.com1.get()?.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Maps a layer's MMIO device (before the vCPUs run).
    pub fn add_mmio(&mut self, device: Arc<dyn MmioDevice>) {
        self.mmio.push(device);
    }

    // [tour:port-out]
    /// A guest `out` (or `rep outs`): `data` holds accesses of `size` bytes. An 8-bit ISA device
    /// sees a wider access as bytes to consecutive ports. Returns whether a device took every
    /// byte.
    pub fn port_out(
        &self,
        port: u16,
        size: u8,
        data: &[u8],
        out: &mut dyn ByteSink,
    ) -> Result<bool, Ending> {
        let mut claimed = true;
        for access in data.chunks(usize::from(size.max(1))) {
            for (i, &byte) in access.iter().enumerate() {
                claimed &= self.out_byte(port.wrapping_add(i as u16), byte, out)?;
            }
        }
        Ok(claimed)
    }
    // [/tour:port-out]

    fn out_byte(&self, port: u16, value: u8, out: &mut dyn ByteSink) -> Result<bool, Ending> {
        match port {
            COM1_BASE..=0x3FF => {
                let sent = self.com1().write((port - COM1_BASE) as u8, value);
                if let Some(byte) = sent {
                    out.push(byte)?;
                }
            }
            // Bit 0 would reset the CPU on a PC; A20 stays on whatever is written.
            PORT_SYSTEM_CONTROL_A => {
                self.system_control_a.store(value | A20_ENABLED, Ordering::Relaxed)
            }
            PORT_I8042_COMMAND if value == I8042_PULSE_RESET => {
                return Err(Ending::Off(Off::I8042Reset))
            }
            _ => return Ok(false),
        }
        Ok(true)
    }

    // [tour:in-byte]
    /// A guest `in` (or `rep ins`): fills `data`, byte by byte. Returns whether a device
    /// answered every byte (others read 0xFF, an empty bus).
    pub fn port_in(&self, port: u16, size: u8, data: &mut [u8]) -> bool {
        let mut claimed = true;
        for access in data.chunks_mut(usize::from(size.max(1))) {
            for (i, byte) in access.iter_mut().enumerate() {
                *byte = match port.wrapping_add(i as u16) {
                    p @ COM1_BASE..=0x3FF => self.com1().read((p - COM1_BASE) as u8),
                    PORT_SYSTEM_CONTROL_A => self.system_control_a.load(Ordering::Relaxed),
                    _ => {
                        claimed = false;
                        0xFF
                    }
                };
            }
        }
        claimed
    }
    // [/tour:in-byte]

    /// A load from guest-physical memory with no slot: an MMIO device's, or all ones.
    pub fn mmio_read(&self, addr: u64, data: &mut [u8]) -> bool {
        let claimed = self.mmio.iter().any(|d| d.read(addr, data));
        if !claimed {
            data.fill(0xFF);
        }
        claimed
    }

    /// A store to guest-physical memory with no slot: an MMIO device's, or dropped.
    pub fn mmio_write(&self, addr: u64, data: &[u8]) -> bool {
        self.mmio.iter().any(|d| d.write(addr, data))
    }
}

#[cfg(test)]
mod tests;
