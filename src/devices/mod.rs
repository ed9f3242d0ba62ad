//! Guest-visible devices and the port-I/O bus that routes a KVM_EXIT_IO to them.
//!
//! On a PC, the CPU's `in`/`out` instructions address a separate 64 KiB I/O space; each device
//! decodes a range of ports. Under KVM every such access the kernel does not handle itself
//! becomes a KVM_EXIT_IO (api.rst 5): the port, the direction, the access size (1, 2 or 4 bytes)
//! and, for string instructions (`rep outsb`), a count. The bus below is the whole "chipset":
//!
//! | ports         | device                                                    |
//! |---------------|-----------------------------------------------------------|
//! | 0x500         | hypercall port (per vCPU, [`hypercall`])                  |
//! | 0x3F8-0x3FF   | COM1, a 16550A UART ([`uart`], wired up in [`com1`])      |
//! | 0x92          | System Control Port A: A20 gate always on                 |
//! | anything else | nothing: reads float high (all ones), writes vanish       |
//!
//! Unclaimed ports are counted, not fatal: real firmware and OSes probe for hardware that is not
//! there, and on an ISA bus with nothing driving it a read returns 0xFF. MMIO to an address no
//! memory slot covers (KVM_EXIT_MMIO) is treated the same way.
//!
//! A device is a state machine that never blocks KVM_RUN for long; the bus is a `match`, so the
//! hot path has no allocation and no lookup table.

pub mod com1;
pub mod hypercall;
pub mod uart;

use crate::kvm::Vm;
use crate::memory::GuestMemory;
use com1::Com1;
use hypercall::{Hypercall, HypercallPort};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

// ---------------------------------------------------------------------------------------------
// What devices are given: the edges to the host and to the interrupt controller. Devices know
// these traits only (as vm-superio's do), so each one can be tested with a Vec for output and
// a recorded list for its interrupt line; console/ and machine/ implement them.

/// Where the bytes a guest sends out go (the host's stdout: console/output.rs).
pub trait ByteSink {
    fn push(&mut self, byte: u8) -> std::io::Result<()>;
    /// The guest is about to wait for input: what it printed must be visible first.
    fn flush(&mut self) -> std::io::Result<()>;
}

/// Output kept in memory: for probe guests (hostcheck) and tests.
impl ByteSink for Vec<u8> {
    fn push(&mut self, byte: u8) -> std::io::Result<()> {
        Vec::push(self, byte);
        Ok(())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// What a guest asks for when it reads one byte of host input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputByte {
    Byte(u8),
    /// Nothing has been typed yet; input may still come.
    NotYet,
    /// The input is at its end and every byte has been taken.
    Ended,
}

/// Where host input comes from (stdin: console/input.rs).
pub trait ByteSource: Send + Sync {
    /// Moves up to `buf.len()` waiting bytes into `buf`: how many, and whether input has ended
    /// (and every byte been taken).
    fn take(&self, buf: &mut [u8]) -> (usize, bool);
    /// One byte, waiting at most `timeout` for it.
    fn pop_timeout(&self, timeout: Duration) -> InputByte;
}

/// One interrupt line into the VM's interrupt controller (machine/ drives it with
/// KVM_IRQ_LINE, api.rst 4.25). A device calls it only when its line's level changes.
pub trait IrqLine: Send + Sync {
    fn set_level(&self, irq: u32, high: bool);
}

/// What a device did with one access, for `--trace` (trace/words.rs turns these into words;
/// devices never format text). Recorded only while tracing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceEvent {
    /// A UART register (its datasheet name under the current DLAB) written or read.
    UartWrite {
        register: &'static str,
        value: u8,
    },
    UartRead {
        register: &'static str,
        value: u8,
    },
    /// Port 0x92 written: A20 stays on.
    SystemControlA,
    /// 0xFE to the i8042's command port: the reset line.
    I8042Reset,
    /// A port nobody decodes: written (ignored) or read (all ones).
    NoDevice {
        port: u16,
        write: bool,
    },
    /// MMIO where there is no RAM: written (dropped) or read (all ones).
    NoMemory {
        write: bool,
    },
    /// A hypercall (OUT to port 0x500), decoded.
    Hypercall(Hypercall),
    /// What GETCHAR fetched for the next `in`.
    Getchar(u8),
    /// An `in` from the hypercall port: GETCHAR's result.
    HypercallResult(u8),
    /// First access to RAM above 4 GiB: its memory slot added (or why not).
    HighRamSlot(Result<(), String>),
}

/// System Control Port A (PS/2 "fast A20" port).
pub const PORT_SYSTEM_CONTROL_A: u16 = 0x92;
/// Bit 1 of port 0x92: the A20 address line is enabled (always, here).
const A20_ENABLED: u8 = 1 << 1;

/// The i8042 keyboard controller's command port, and the command that pulses the CPU's reset
/// line (how a PC reboots without ACPI; Linux's reboot=k). There is no keyboard controller
/// otherwise: its status reads 0xFF, which Linux's i8042 driver takes as "no controller".
pub const PORT_I8042_COMMAND: u16 = 0x64;
const I8042_PULSE_RESET: u8 = 0xFE;

/// What a PC has at a port mini-kvm leaves unclaimed: the names `--stats`, `-v` and `--trace`
/// give the ports an OS probes (an OS kernel looks for all of them at boot).
pub fn unclaimed_port_name(port: u16) -> &'static str {
    match port {
        0x20 | 0x21 | 0xA0 | 0xA1 => "8259 PIC",
        0x40..=0x43 => "8254 PIT",
        0x4D0 | 0x4D1 => "PIC ELCR",
        0x60 | 0x64 => "PS/2 i8042",
        0x61 => "PC speaker / NMI status",
        0x70 | 0x71 => "CMOS RTC",
        0x80 => "POST diagnostic",
        0x00..=0x1F | 0x81..=0x8F | 0xC0..=0xDF => "DMA controller",
        0x2E | 0x2F | 0x4E | 0x4F => "Super I/O",
        0x2E8..=0x2EF | 0x2F8..=0x2FF | 0x3E8..=0x3EF => "COM2-COM4",
        0x378..=0x37A | 0x278..=0x27A => "parallel port",
        0x3B0..=0x3DF => "VGA",
        0x1F0..=0x1F7 | 0x170..=0x177 | 0x3F6 | 0x376 => "IDE",
        0x3F0..=0x3F5 | 0x3F7 => "floppy",
        0xCF8..=0xCFF => "PCI configuration",
        0x500 => "hypercall",
        _ => "unknown",
    }
}

/// How long GETCHAR waits for a key before answering "nothing yet": long enough that a guest
/// polling in a loop does not burn a host core, short enough to feel instant.
const GETCHAR_WAIT: Duration = Duration::from_millis(10);

/// The devices one VM shares between its vCPUs.
pub struct Devices {
    com1: Mutex<Com1>,
    system_control_a: AtomicU8,
    /// RAM above 4 GiB whose memory slot is added at the guest's first access to it.
    high_ram: Mutex<Option<HighRam>>,
}

/// RAM above the 4 GiB hole (`--mem` over 3G) is given to KVM only once the guest first
/// touches it. A memory slot costs KVM time in proportion to its size (its per-page
/// bookkeeping, on a KVM that shadows page tables: about 8 ms for 13 GiB here), which a
/// kernel that never looks above 4 GiB should not pay at every start. Until then an access
/// there is an MMIO exit: mini-kvm performs it on the very memory the slot will map, then adds
/// the slot, so the guest sees RAM either way.
pub struct HighRam {
    pub vm: Arc<Vm>,
    pub memory: Arc<GuestMemory>,
    pub slot: u32,
    pub gpa: u64,
    pub size: u64,
}

/// The writes one drain of the coalesced ring applied.
pub struct Batch {
    pub writes: u32,
    bytes: [u8; com1::MAX_BATCH],
    len: usize,
}

impl Batch {
    /// The bytes that left the UART (all of them, unless the guest wrote DLL through the ring).
    pub fn sent(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Why a device wants the vCPU to stop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceStop {
    /// EXIT (status 0) or EXIT_STATUS.
    Exit(u8),
    /// The guest broke the ABI (e.g. an unknown hypercall number).
    GuestError(String),
    /// The host could not do its part (stdout closed, KVM_GET_REGS failed...).
    HostError(String),
    /// The guest reset the machine (the keyboard controller's reset line).
    Reset,
}

/// How often something nobody answers was read and written (`--stats`, `-v`).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Accesses {
    pub reads: u64,
    pub writes: u64,
}

/// The devices and device state that belong to one vCPU, with its output `O`.
pub struct VcpuIo<O> {
    pub hypercall: HypercallPort,
    pub output: O,
    /// stdin for vCPU 0; an input that has already ended for the others.
    pub input: Arc<dyn ByteSource>,
    /// Accesses to ports nobody claims, by port.
    pub unclaimed_ports: BTreeMap<u16, Accesses>,
    /// MMIO accesses to addresses with no memory.
    pub unclaimed_mmio: Accesses,
    /// With --trace: what the devices did during the current exit (None: not tracing).
    pub events: Option<Vec<DeviceEvent>>,
    /// A triple fault is the guest's way to reset (an OS kernel's), not a fault.
    pub triple_fault_resets: bool,
}

impl<O: ByteSink> VcpuIo<O> {
    pub fn new(output: O, input: Arc<dyn ByteSource>) -> VcpuIo<O> {
        VcpuIo {
            hypercall: HypercallPort::default(),
            output,
            input,
            unclaimed_ports: BTreeMap::new(),
            unclaimed_mmio: Accesses::default(),
            events: None,
            triple_fault_resets: false,
        }
    }

    /// Records what a device did; costs one branch when not tracing.
    #[inline]
    fn event(&mut self, event: impl FnOnce() -> DeviceEvent) {
        if let Some(events) = &mut self.events {
            events.push(event());
        }
    }

    fn emit(&mut self, byte: u8) -> Result<(), DeviceStop> {
        self.output
            .push(byte)
            .map_err(|e| DeviceStop::HostError(format!("writing guest output failed: {e}")))
    }
}

impl Devices {
    pub fn new(com1: Com1) -> Devices {
        Devices {
            com1: Mutex::new(com1),
            system_control_a: AtomicU8::new(A20_ENABLED),
            high_ram: Mutex::new(None),
        }
    }

    /// RAM above 4 GiB, to be added as a memory slot on first access.
    pub fn set_high_ram(&self, high: HighRam) {
        *self.high_ram.lock().unwrap_or_else(|e| e.into_inner()) = Some(high);
    }

    /// An MMIO access inside RAM above 4 GiB that has no slot yet: done on the RAM itself, and
    /// the slot added. `false`: not such an access.
    fn high_ram_access<O: ByteSink>(
        &self,
        addr: u64,
        data: &mut [u8],
        write: bool,
        cpu: &mut VcpuIo<O>,
    ) -> bool {
        let mut high = self.high_ram.lock().unwrap_or_else(|e| e.into_inner());
        let Some(h) = high.as_ref() else {
            return false;
        };
        let len = data.len() as u64;
        if addr < h.gpa || addr.saturating_add(len) > h.gpa + h.size {
            return false;
        }
        let done = if write {
            h.memory.write(addr, data)
        } else {
            h.memory.read(addr, data)
        };
        if done.is_err() {
            return false;
        }
        let added = h.vm.add_memory_region(h.slot, &h.memory, h.gpa, h.size);
        cpu.event(|| {
            DeviceEvent::HighRamSlot(added.as_ref().map(|_| ()).map_err(|e| e.to_string()))
        });
        if added.is_ok() {
            *high = None;
        }
        true
    }

    /// COM1, locked. The UART is one device shared by every vCPU (and the stdin thread).
    pub fn com1(&self) -> MutexGuard<'_, Com1> {
        // The UART's registers stay consistent even if a thread panicked holding the lock.
        self.com1.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies the THR writes waiting in KVM's coalesced ring (com1.rs), oldest first, and
    /// sends the bytes they transmit to this vCPU's output, as their exits would have. The
    /// run loop calls this before it handles any exit, so the UART and the output see every
    /// write in the order the guest made it.
    pub fn drain_coalesced<O: ByteSink>(&self, cpu: &mut VcpuIo<O>) -> Result<Batch, DeviceStop> {
        let mut batch = Batch {
            writes: 0,
            bytes: [0; com1::MAX_BATCH],
            len: 0,
        };
        let (writes, len) = self.com1().drain(&mut batch.bytes);
        batch.writes = writes;
        batch.len = len;
        for &byte in batch.sent() {
            cpu.emit(byte)?;
        }
        Ok(batch)
    }

    /// A guest `out` (or `rep outs`) to a byte device: `data` holds `data.len() / size`
    /// accesses of `size` bytes. (The hypercall port reads registers, not data: see
    /// [`Self::hypercall`].)
    pub fn port_out<O: ByteSink>(
        &self,
        port: u16,
        size: u8,
        data: &[u8],
        cpu: &mut VcpuIo<O>,
    ) -> Result<(), DeviceStop> {
        for access in data.chunks(usize::from(size.max(1))) {
            // An 8-bit ISA device sees a wider access as bytes to consecutive ports; a byte no
            // device takes is counted under the port the guest named (`out 0x4FE, eax` is an
            // access to 0x4FE, not a stray one to 0x500).
            let mut unclaimed = false;
            for (i, &byte) in access.iter().enumerate() {
                unclaimed |= !self.out_byte(port.wrapping_add(i as u16), byte, cpu)?;
            }
            if unclaimed {
                cpu.unclaimed_ports.entry(port).or_default().writes += 1;
            }
        }
        Ok(())
    }

    /// A guest `in` (or `rep ins`): fill `data`, `size` bytes per access.
    pub fn port_in<O: ByteSink>(&self, port: u16, size: u8, data: &mut [u8], cpu: &mut VcpuIo<O>) {
        for access in data.chunks_mut(usize::from(size.max(1))) {
            if port == hypercall::HYPERCALL_PORT {
                access.fill(0);
                access[0] = cpu.hypercall.read();
                let value = access[0];
                cpu.event(|| DeviceEvent::HypercallResult(value));
                continue;
            }
            let mut unclaimed = false;
            for (i, byte) in access.iter_mut().enumerate() {
                let (value, claimed) = self.in_byte(port.wrapping_add(i as u16), cpu);
                *byte = value;
                unclaimed |= !claimed;
            }
            if unclaimed {
                cpu.unclaimed_ports.entry(port).or_default().reads += 1;
            }
        }
    }

    /// One byte to one port; `Ok(false)` when no device took it.
    fn out_byte<O: ByteSink>(
        &self,
        port: u16,
        value: u8,
        cpu: &mut VcpuIo<O>,
    ) -> Result<bool, DeviceStop> {
        match port {
            com1::COM1_FIRST..=com1::COM1_LAST => {
                let offset = (port - com1::COM1_FIRST) as u8;
                let mut com1 = self.com1();
                if cpu.events.is_some() {
                    let register = com1.register_name(offset, true);
                    cpu.event(|| DeviceEvent::UartWrite { register, value });
                }
                let sent = com1.write(offset, value);
                drop(com1);
                if let Some(byte) = sent {
                    cpu.emit(byte)?;
                }
            }
            PORT_SYSTEM_CONTROL_A => {
                cpu.event(|| DeviceEvent::SystemControlA);
                // Bit 0 would reset the CPU on a PC; mini-kvm does not model resets.
                self.system_control_a
                    .store(value | A20_ENABLED, Ordering::Relaxed);
            }
            PORT_I8042_COMMAND if value == I8042_PULSE_RESET => {
                cpu.event(|| DeviceEvent::I8042Reset);
                return Err(DeviceStop::Reset);
            }
            _ => {
                cpu.event(|| DeviceEvent::NoDevice { port, write: true });
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One byte from one port, and whether a device answered.
    // [tour:in-byte]
    fn in_byte<O: ByteSink>(&self, port: u16, cpu: &mut VcpuIo<O>) -> (u8, bool) {
        match port {
            com1::COM1_FIRST..=com1::COM1_LAST => {
                let offset = (port - com1::COM1_FIRST) as u8;
                let mut com1 = self.com1();
                let register = com1.register_name(offset, false);
                let value = com1.read(offset);
                drop(com1);
                cpu.event(|| DeviceEvent::UartRead { register, value });
                (value, true)
            }
            PORT_SYSTEM_CONTROL_A => (self.system_control_a.load(Ordering::Relaxed), true),
            _ => {
                cpu.event(|| DeviceEvent::NoDevice { port, write: false });
                (0xFF, false)
            }
        }
    }
    // [/tour:in-byte]

    /// OUT to the hypercall port: the call number is AL, the argument BL (the run loop read
    /// them from the vCPU's registers).
    pub fn hypercall<O: ByteSink>(
        &self,
        al: u8,
        bl: u8,
        cpu: &mut VcpuIo<O>,
    ) -> Result<(), DeviceStop> {
        let call = Hypercall::decode(al, bl);
        cpu.event(|| DeviceEvent::Hypercall(call));
        match call {
            Hypercall::Putchar(byte) => cpu.emit(byte),
            Hypercall::Getchar => {
                // The guest is about to wait for the user: show what it printed first.
                cpu.output.flush().map_err(|e| {
                    DeviceStop::HostError(format!("writing guest output failed: {e}"))
                })?;
                let input = cpu.input.pop_timeout(GETCHAR_WAIT);
                let byte = cpu.hypercall.getchar_result(input);
                cpu.event(|| DeviceEvent::Getchar(byte));
                Ok(())
            }
            Hypercall::Exit => Err(DeviceStop::Exit(0)),
            Hypercall::ExitStatus(status) => Err(DeviceStop::Exit(status)),
            Hypercall::Unknown(n) => Err(DeviceStop::GuestError(format!(
                "unknown hypercall number {n:#04x} (AL) on port {:#x}; \
                 known: 0 EXIT, 1 PUTCHAR, 2 GETCHAR, 3 EXIT_STATUS",
                hypercall::HYPERCALL_PORT
            ))),
        }
    }

    /// A load from guest-physical memory nobody backs: all ones, like an empty bus.
    pub fn mmio_read<O: ByteSink>(&self, addr: u64, data: &mut [u8], cpu: &mut VcpuIo<O>) {
        if self.high_ram_access(addr, data, false, cpu) {
            return;
        }
        data.fill(0xFF);
        cpu.unclaimed_mmio.reads += 1;
        cpu.event(|| DeviceEvent::NoMemory { write: false });
    }

    /// A store to guest-physical memory nobody backs: dropped.
    pub fn mmio_write<O: ByteSink>(&self, addr: u64, data: &[u8], cpu: &mut VcpuIo<O>) {
        let mut copy = [0u8; 8];
        let n = data.len().min(8);
        copy[..n].copy_from_slice(&data[..n]);
        if self.high_ram_access(addr, &mut copy[..n], true, cpu) {
            return;
        }
        cpu.unclaimed_mmio.writes += 1;
        cpu.event(|| DeviceEvent::NoMemory { write: true });
    }
}
