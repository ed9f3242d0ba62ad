//! Virtio: the standard interface between a guest's drivers and a hypervisor's paravirtual
//! devices.
//!
//! Reference: "Virtual I/O Device (VIRTIO) Version 1.2", OASIS (the sections are cited in each
//! file): 2.1 the device status field, 2.2 feature bits, 2.6-2.7 virtqueues and split
//! virtqueues, 3.1 device initialization, 4.2 virtio over MMIO, 5.2 the block device.
//!
//! Emulating real hardware (an IDE disk, a 16550A UART) costs a VM exit for every register
//! access. A virtio device is designed for a hypervisor instead: the driver puts whole requests
//! into rings in guest RAM (*virtqueues*) and then writes one register to say so (a *notify*);
//! the device takes the requests from RAM, does them, puts the answers back in RAM and raises
//! one interrupt. A device has three layers, one file each:
//!
//! | layer | what it is | file |
//! |---|---|---|
//! | transport | how the driver finds the device and reaches its registers: here a page of MMIO, the version-2 register layout | [`mmio`] |
//! | virtqueue | descriptor table, available ring, used ring, all in guest RAM | [`queue`] |
//! | device type | what a request means: for a block device, read, write, flush | [`blk`] |
//!
//! One request, from the guest's `write(2)` to its completion:
//!
//! ```text
//! driver (guest)                              device (mini-kvm)
//! request header, data, status byte
//!   in guest RAM; descriptors name them
//! head index -> available ring, idx += 1
//! write QueueNotify ---- KVM_IOEVENTFD ---->  disk thread wakes: pops the chain, copies each
//!                                             descriptor and the header once, checks them,
//!                                             pread/pwrite/fdatasync, writes the status byte,
//!                                             used ring element, used idx += 1,
//!                        <---- KVM_IRQFD ---  InterruptStatus |= 1, pulse the interrupt line
//! interrupt handler: read InterruptStatus,
//!   write InterruptACK, take the used ring
//! ```
//!
//! **A guest is hostile.** Everything in guest RAM can change while the device reads it
//! (another vCPU may rewrite it), so the device copies each descriptor and each request header
//! once and uses only its copy. Every address and length is checked against guest RAM (through
//! [`GuestRam`], whose `read`/`write` refuse any range outside it). The work a request can cause
//! is bounded by the queue size and the disk image, never by a length the guest chose: the device
//! allocates nothing per request, data moves through one fixed buffer.

pub mod backend;
pub mod blk;
pub mod device;
pub mod disk;
#[cfg(test)]
mod fuzz;
pub mod image;
pub mod mmio;
pub mod queue;
#[cfg(test)]
mod testing;

use crate::memory::{GuestMemory, MemoryError};

// Device status bits (2.1): the driver sets them, in this order, as it initializes the device
// (3.1.1); writing 0 resets the device.
/// The guest found the device.
#[allow(dead_code)] // the driver's bits: the device never looks at them
pub const VIRTIO_CONFIG_S_ACKNOWLEDGE: u32 = 1;
/// The guest has a driver for it.
#[allow(dead_code)]
pub const VIRTIO_CONFIG_S_DRIVER: u32 = 2;
/// The driver is set up: the device may use its queues.
pub const VIRTIO_CONFIG_S_DRIVER_OK: u32 = 4;
/// The driver accepted a subset of the device's features; the device agreed.
pub const VIRTIO_CONFIG_S_FEATURES_OK: u32 = 8;
/// Set by the device: it cannot go on until the driver resets it.
pub const VIRTIO_CONFIG_S_NEEDS_RESET: u32 = 0x40;
/// The driver gave up on the device.
#[allow(dead_code)]
pub const VIRTIO_CONFIG_S_FAILED: u32 = 0x80;

/// Feature bit 32 (6, "Reserved Feature Bits"): the device follows virtio 1.x, not the legacy
/// interface. mini-kvm offers only the 1.x interface and refuses drivers that do not accept it.
pub const VIRTIO_F_VERSION_1: u32 = 32;

/// The 64-bit feature mask with feature bit `bit` set (features are numbered as in the spec).
pub const fn feature(bit: u32) -> u64 {
    1 << bit
}

/// Where mini-kvm puts its virtio-blk device: a page of MMIO in the hole between the end of
/// RAM below 4 GiB (3 GiB at most, boot/mod.rs) and the IOAPIC at 0xFEC0_0000, so no RAM,
/// no memory slot and no other device is there; the first page of the 256 MiB from 0xD000_0000,
/// which leaves room for more devices at the following pages.
pub const VIRTIO_BLK_MMIO_BASE: u64 = 0xD000_0000;
/// One page per device: the registers end at 0x100 plus the configuration space.
pub const VIRTIO_MMIO_SIZE: u64 = 0x1000;
/// The block device's interrupt line (a GSI, wired to the 8259s' IRQ 5 and IOAPIC pin 5 by
/// KVM's default routing). IRQ 5 is free on a PC without a second parallel port or a sound
/// card; the lines a kernel expects elsewhere are 0 (PIT), 1 (keyboard), 2 (cascade), 3 and 4
/// (COM2, COM1), 8 (RTC), 12 (PS/2 mouse), 14 and 15 (IDE).
pub const VIRTIO_BLK_IRQ: u32 = 5;

/// Guest RAM as the virtio layer sees it: bounds-checked copies by guest-physical address.
/// [`GuestMemory`] in the machine; in the tests, a `Vec` that also records every access.
pub trait GuestRam {
    /// Bytes of guest-physical address space, from 0.
    fn size(&self) -> u64;
    /// Copies RAM at `gpa` into `buf`; an error if any byte is outside RAM.
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError>;
    /// Copies `data` to RAM at `gpa`; an error (and nothing written) if any byte is outside.
    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError>;
}

impl GuestRam for GuestMemory {
    fn size(&self) -> u64 {
        GuestMemory::size(self)
    }
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        GuestMemory::read(self, gpa, buf)
    }
    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        GuestMemory::write(self, gpa, data)
    }
}

/// Whether `gpa..gpa+len` lies inside RAM (overflow-proof).
pub fn in_ram(mem: &impl GuestRam, gpa: u64, len: u64) -> bool {
    gpa.checked_add(len).is_some_and(|end| end <= mem.size())
}

/// Reads a little-endian u16 from guest RAM.
pub fn read_u16(mem: &impl GuestRam, gpa: u64) -> Result<u16, MemoryError> {
    let mut b = [0u8; 2];
    mem.read(gpa, &mut b)?;
    Ok(u16::from_le_bytes(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_memory_is_guest_ram() {
        let mem = GuestMemory::new(0x2000).unwrap();
        assert_eq!(GuestRam::size(&mem), 0x2000);
        GuestRam::write(&mem, 0x1FFE, &[0x34, 0x12]).unwrap();
        assert_eq!(read_u16(&mem, 0x1FFE).unwrap(), 0x1234);
        assert!(read_u16(&mem, 0x1FFF).is_err());
        assert!(in_ram(&mem, 0x1000, 0x1000));
        assert!(!in_ram(&mem, 0x1000, 0x1001));
        assert!(!in_ram(&mem, u64::MAX, 2));
        assert!(in_ram(&mem, 0x2000, 0));
    }

    #[test]
    fn the_device_sits_in_the_hole_below_the_ioapic() {
        // Between RAM below 4 GiB and the IOAPIC (KVM's TSS pages are above the IOAPIC), on a
        // line below 16 that no PC device a kernel expects uses.
        const {
            assert!(VIRTIO_BLK_MMIO_BASE >= crate::boot::LOW_RAM_END);
            assert!(VIRTIO_BLK_MMIO_BASE + VIRTIO_MMIO_SIZE <= 0xFEC0_0000);
            assert!(0xFEC0_0000 < crate::machine::TSS_ADDR);
            assert!(matches!(VIRTIO_BLK_IRQ, 5 | 7 | 9 | 10 | 11));
        }
    }

    #[test]
    fn feature_bits_are_numbered_as_in_the_spec() {
        assert_eq!(feature(VIRTIO_F_VERSION_1), 1 << 32);
        assert_eq!(feature(0), 1);
    }
}
