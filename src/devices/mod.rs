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

use crate::console::{GuestOutput, HostInput};
use crate::kvm::ExitRegs;
use crate::trace::byte_text;
use com1::Com1;
use hypercall::{Hypercall, HypercallPort, HYPERCALL_PORT};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

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
    pub vm: Arc<crate::kvm::Vm>,
    pub memory: Arc<crate::memory::GuestMemory>,
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

/// The devices and device state that belong to one vCPU.
pub struct VcpuIo {
    pub hypercall: HypercallPort,
    pub output: GuestOutput,
    /// stdin for vCPU 0; an input that has already ended for the others.
    pub input: Arc<HostInput>,
    /// Accesses to ports nobody claims: port -> (reads, writes).
    pub unclaimed_ports: BTreeMap<u16, (u64, u64)>,
    /// MMIO accesses to addresses with no memory: (reads, writes).
    pub unclaimed_mmio: (u64, u64),
    /// With --trace: what the devices made of the current exit, in words.
    pub trace_note: Option<String>,
    /// A triple fault is the guest's way to reset (an OS kernel's), not a fault.
    pub triple_fault_resets: bool,
}

impl VcpuIo {
    pub fn new(output: GuestOutput, input: Arc<HostInput>) -> VcpuIo {
        VcpuIo {
            hypercall: HypercallPort::default(),
            output,
            input,
            unclaimed_ports: BTreeMap::new(),
            unclaimed_mmio: (0, 0),
            trace_note: None,
            triple_fault_resets: false,
        }
    }

    /// Adds to the trace note of this exit; costs one branch when not tracing.
    #[inline]
    fn note(&mut self, f: impl FnOnce(&mut String)) {
        if let Some(note) = &mut self.trace_note {
            if !note.is_empty() {
                note.push_str("; ");
            }
            f(note);
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
    fn high_ram_access(&self, addr: u64, data: &mut [u8], write: bool, cpu: &mut VcpuIo) -> bool {
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
        cpu.note(|n| {
            let _ = match &added {
                Ok(()) => write!(n, "RAM above 4 GiB, first access: its memory slot added"),
                Err(e) => write!(n, "RAM above 4 GiB: {e}"),
            };
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
    pub fn drain_coalesced(&self, cpu: &mut VcpuIo) -> Result<Batch, DeviceStop> {
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

    /// A guest `out` (or `rep outs`): `data` holds `data.len() / size` accesses of `size` bytes.
    pub fn port_out(
        &self,
        port: u16,
        size: u8,
        data: &[u8],
        regs: &ExitRegs<'_>,
        cpu: &mut VcpuIo,
    ) -> Result<(), DeviceStop> {
        for access in data.chunks(usize::from(size.max(1))) {
            if port == HYPERCALL_PORT {
                self.hypercall(regs, cpu)?;
                continue;
            }
            // An 8-bit ISA device sees a wider access as bytes to consecutive ports; a byte no
            // device takes is counted under the port the guest named (`out 0x4FE, eax` is an
            // access to 0x4FE, not a stray one to 0x500).
            let mut unclaimed = false;
            for (i, &byte) in access.iter().enumerate() {
                unclaimed |= !self.out_byte(port.wrapping_add(i as u16), byte, cpu)?;
            }
            if unclaimed {
                cpu.unclaimed_ports.entry(port).or_default().1 += 1;
            }
        }
        Ok(())
    }

    /// A guest `in` (or `rep ins`): fill `data`, `size` bytes per access.
    pub fn port_in(&self, port: u16, size: u8, data: &mut [u8], cpu: &mut VcpuIo) {
        for access in data.chunks_mut(usize::from(size.max(1))) {
            if port == HYPERCALL_PORT {
                access.fill(0);
                access[0] = cpu.hypercall.read();
                let value = access[0];
                cpu.note(|n| {
                    let _ = write!(n, "hypercall result {}", byte_text(value));
                });
                continue;
            }
            let mut unclaimed = false;
            for (i, byte) in access.iter_mut().enumerate() {
                let (value, claimed) = self.in_byte(port.wrapping_add(i as u16), cpu);
                *byte = value;
                unclaimed |= !claimed;
            }
            if unclaimed {
                cpu.unclaimed_ports.entry(port).or_default().0 += 1;
            }
        }
    }

    /// One byte to one port; `Ok(false)` when no device took it.
    fn out_byte(&self, port: u16, value: u8, cpu: &mut VcpuIo) -> Result<bool, DeviceStop> {
        match port {
            com1::COM1_FIRST..=com1::COM1_LAST => {
                let offset = (port - com1::COM1_FIRST) as u8;
                let mut com1 = self.com1();
                if cpu.trace_note.is_some() {
                    let name = com1.register_name(offset, true);
                    cpu.note(|n| {
                        let _ = write!(n, "write {name} = {value:#04x}");
                        if name == "THR" {
                            let _ = write!(n, " {}", byte_text(value));
                        }
                    });
                }
                let sent = com1.write(offset, value);
                drop(com1);
                if let Some(byte) = sent {
                    cpu.emit(byte)?;
                }
            }
            PORT_SYSTEM_CONTROL_A => {
                cpu.note(|n| {
                    let _ = write!(n, "System Control Port A (A20 stays on)");
                });
                // Bit 0 would reset the CPU on a PC; mini-kvm does not model resets.
                self.system_control_a
                    .store(value | A20_ENABLED, Ordering::Relaxed);
            }
            PORT_I8042_COMMAND if value == I8042_PULSE_RESET => {
                cpu.note(|n| n.push_str("i8042 command 0xFE: pulse the reset line"));
                return Err(DeviceStop::Reset);
            }
            _ => {
                cpu.note(|n| {
                    let _ = write!(
                        n,
                        "no device ({}): write ignored",
                        unclaimed_port_name(port)
                    );
                });
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// One byte from one port, and whether a device answered.
    fn in_byte(&self, port: u16, cpu: &mut VcpuIo) -> (u8, bool) {
        match port {
            com1::COM1_FIRST..=com1::COM1_LAST => {
                let offset = (port - com1::COM1_FIRST) as u8;
                let mut com1 = self.com1();
                let name = com1.register_name(offset, false);
                let value = com1.read(offset);
                drop(com1);
                cpu.note(|n| {
                    let _ = write!(n, "read {name} = {value:#04x}");
                    let bits = com1::describe_register(name, value);
                    if !bits.is_empty() {
                        let _ = write!(n, " ({bits})");
                    }
                });
                (value, true)
            }
            PORT_SYSTEM_CONTROL_A => (self.system_control_a.load(Ordering::Relaxed), true),
            _ => {
                cpu.note(|n| {
                    let _ = write!(
                        n,
                        "no device ({}): reads all ones",
                        unclaimed_port_name(port)
                    );
                });
                (0xFF, false)
            }
        }
    }

    /// OUT to the hypercall port: the call number is AL, the argument BL.
    fn hypercall(&self, regs: &ExitRegs<'_>, cpu: &mut VcpuIo) -> Result<(), DeviceStop> {
        let regs = regs.get().map_err(|e| {
            DeviceStop::HostError(format!("reading registers for a hypercall: {e}"))
        })?;
        let call = Hypercall::decode(regs.rax as u8, regs.rbx as u8);
        cpu.note(|n| {
            let _ = match call {
                Hypercall::Putchar(b) => write!(n, "hypercall PUTCHAR {}", byte_text(b)),
                Hypercall::ExitStatus(s) => write!(n, "hypercall EXIT_STATUS {s}"),
                Hypercall::Unknown(x) => write!(n, "unknown hypercall {x:#04x}"),
                other => write!(n, "hypercall {}", other.name()),
            };
        });
        match call {
            Hypercall::Putchar(byte) => cpu.emit(byte),
            Hypercall::Getchar => {
                // The guest is about to wait for the user: show what it printed first.
                cpu.output.flush().map_err(|e| {
                    DeviceStop::HostError(format!("writing guest output failed: {e}"))
                })?;
                let input = cpu.input.pop_timeout(GETCHAR_WAIT);
                let byte = cpu.hypercall.getchar_result(input);
                cpu.note(|n| {
                    let _ = write!(n, "-> {}", byte_text(byte));
                });
                Ok(())
            }
            Hypercall::Exit => Err(DeviceStop::Exit(0)),
            Hypercall::ExitStatus(status) => Err(DeviceStop::Exit(status)),
            Hypercall::Unknown(n) => Err(DeviceStop::GuestError(format!(
                "unknown hypercall number {n:#04x} (AL) on port {HYPERCALL_PORT:#x}; \
                 known: 0 EXIT, 1 PUTCHAR, 2 GETCHAR, 3 EXIT_STATUS"
            ))),
        }
    }

    /// A load from guest-physical memory nobody backs: all ones, like an empty bus.
    pub fn mmio_read(&self, addr: u64, data: &mut [u8], cpu: &mut VcpuIo) {
        if self.high_ram_access(addr, data, false, cpu) {
            return;
        }
        data.fill(0xFF);
        cpu.unclaimed_mmio.0 += 1;
        cpu.note(|n| n.push_str("no device: reads all ones"));
    }

    /// A store to guest-physical memory nobody backs: dropped.
    pub fn mmio_write(&self, addr: u64, data: &[u8], cpu: &mut VcpuIo) {
        let mut copy = [0u8; 8];
        let n = data.len().min(8);
        copy[..n].copy_from_slice(&data[..n]);
        if self.high_ram_access(addr, &mut copy[..n], true, cpu) {
            return;
        }
        cpu.unclaimed_mmio.1 += 1;
        cpu.note(|n| n.push_str("no device: write dropped"));
    }
}
