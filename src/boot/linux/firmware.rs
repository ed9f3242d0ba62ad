//! What a PC's firmware leaves a Linux kernel besides the zero page: a description of what the kernel cannot probe for: its CPUs, its interrupt
//! controllers, and any device on no bus.
//!
//! Reference: Documentation/arch/x86/boot.rst ("acpi_rsdp_addr"), arch/x86/kernel/acpi/boot.c
//! (how Linux reads the MADT, and `acpi_generic_reduced_hw_init`), arch/x86/kernel/mpparse.c
//! (the MP table), arch/x86/kernel/apic/apic.c (`setup_local_APIC`, LINT0).
//!
//! A PC describes itself in one of two ways, and a Linux boot gets at most one:
//!
//! ```text
//! the run               mini-kvm writes                        Linux reads from it
//! no --cpus, no disk    nothing                                nothing: a legacy PC (8259
//!                                                              PICs, PIT, COM1 at 0x3F8)
//! --cpus N, no disk     the BIOS data area's words and the     its CPUs, the IOAPIC, ISA IRQ
//!                       MP table in the EBDA (smp/mptable.rs)  n at IOAPIC pin n
//! --disk, any --cpus    ACPI tables at 0xE0000 (boot/acpi.rs)  the MADT's CPUs and IOAPIC,
//!                       and acpi_rsdp_addr in the zero page    the DSDT's COM1 and disk
//! ```
//!
//! **Why ACPI only with a disk.** The virtio-mmio disk sits on no bus, and the Debian kernels
//! mini-kvm boots find such a device only in ACPI (their `virtio_mmio` is a module without the
//! `virtio_mmio.device=` parameter). The tables are *hardware-reduced* ACPI, and with those
//! Linux drops the legacy PC: no 8259 (the null PIC), no PIT timer, no i8042 or CMOS RTC
//! probe (the FADT says there are none). A boot without a disk keeps the legacy PC (the boot
//! chapter 12 shows, its `--stats` lines), and one with a disk is the modern, smaller machine
//! Firecracker gives its guests. With ACPI the MP table is left out: Linux reads the MADT
//! first and then ignores an MP table (mpparse.c).
//!
//! **LINT0, with ACPI.** KVM still emulates the 8259s, and its default routing wires GSIs 0-15
//! to them as well as to the IOAPIC. An 8259 nobody programmed passes IRQ n on as vector n, an
//! exception's vector (the disk's IRQ 5 would arrive as #BR), to CPU 0, whose LINT0 KVM resets
//! to ExtINT, unmasked, as a PC's firmware leaves it for a legacy OS. The MADT says there are
//! no 8259s (no PCAT_COMPAT flag), so every local APIC's LINT0 is set masked (KVM_SET_LAPIC,
//! which every vCPU needs anyway for INIT/SIPI to reach it), as that firmware would leave it,
//! and nothing of the 8259s reaches a CPU at any point of the boot. Linux 6.1 would cope
//! without: its `setup_local_APIC` software-disables the APIC first, which masks every LVT
//! entry (SDM Vol. 3A 11.4.7.2), and then keeps LINT0 masked; the lane's disk boot passes
//! either way. A kernel that trusts LINT0 as it finds it would take the #BR.

use super::super::acpi::{self, AcpiTables, MmioDevice, Platform, SerialPort};
use super::super::kernel;
use crate::devices::uart::{COM1_BASE, COM1_IRQ};
use crate::error::Ending;
use crate::kvm::Vcpu;
use crate::memory::GuestMemory;
use crate::smp::mptable::EBDA;
use crate::virtio::{VIRTIO_BLK_IRQ, VIRTIO_BLK_MMIO_BASE, VIRTIO_MMIO_SIZE};

/// How the machine describes itself to Linux.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Firmware {
    /// No `--cpus`, no disk: a legacy PC, nothing to describe.
    Legacy,
    /// `--cpus`, no disk: the MP table.
    MpTable,
    /// A disk: the ACPI tables, built.
    Acpi(AcpiTables),
}

/// What a PC with `cpus` CPUs, COM1 and a virtio-mmio disk looks like in ACPI.
pub fn platform_with_disk(cpus: usize) -> Platform<'static> {
    const DISK: [MmioDevice; 1] =
        [MmioDevice { base: VIRTIO_BLK_MMIO_BASE, size: VIRTIO_MMIO_SIZE, gsi: VIRTIO_BLK_IRQ }];
    Platform {
        cpus: cpus as u32,
        com1: Some(SerialPort { port: COM1_BASE, gsi: COM1_IRQ }),
        virtio_mmio: &DISK,
    }
}

/// The description for a boot on `cpus` CPUs (1 to smp::MAX_CPUS), with `--cpus` given
/// (`mp`) or not, with a disk or not.
pub fn choose(cpus: usize, mp: bool, disk: bool) -> Result<Firmware, Ending> {
    match (disk, mp) {
        (true, _) => acpi::build(&platform_with_disk(cpus))
            .map(Firmware::Acpi)
            .map_err(|e| Ending::Host(format!("building the ACPI tables: {e}"))),
        (false, false) => Ok(Firmware::Legacy),
        (false, true) => Ok(Firmware::MpTable),
    }
}

impl Firmware {
    /// For the zero page's `acpi_rsdp_addr`.
    pub fn rsdp(&self) -> Option<u64> {
        match self {
            Firmware::Acpi(tables) => Some(tables.rsdp_addr()),
            _ => None,
        }
    }

    /// Step 5: the description.
    pub fn write(&self, memory: &GuestMemory, cpus: usize) -> Result<(), Ending> {
        match self {
            Firmware::Legacy => Ok(()),
            Firmware::MpTable => crate::smp::write_tables(memory, cpus),
            Firmware::Acpi(tables) => memory
                .write(tables.gpa, &tables.bytes)
                .map_err(|e| Ending::Host(format!("writing the ACPI tables: {e}"))),
        }
    }

    /// Step 6: the local APICs: LINT0 masked with ACPI (see above), else as for any kernel.
    pub fn wire(&self, vcpus: &[Vcpu]) -> Result<(), Ending> {
        match self {
            Firmware::Acpi(_) => crate::smp::wire_lapics(vcpus, false),
            _ => kernel::wire_cpus(vcpus),
        }
    }

    /// For `-v`.
    pub fn describe(&self) -> String {
        match self {
            Firmware::Legacy => "no MP table, no ACPI: a legacy PC (8259 PICs, PIT)".into(),
            Firmware::MpTable => format!("MP table at {EBDA:#x} (the EBDA)"),
            Firmware::Acpi(t) => format!(
                "ACPI tables at {:#x}-{:#x} (RSDP, XSDT, FADT hardware-reduced, MADT, DSDT with COM1 and the virtio-mmio disk), LINT0 masked",
                t.gpa,
                t.gpa + t.bytes.len() as u64 - 1
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::boot::zeropage::{e820_map, E820_RESERVED};

    #[test]
    fn a_disk_means_acpi_and_several_cpus_without_one_the_mp_table() {
        assert!(matches!(choose(1, false, false), Ok(Firmware::Legacy)));
        assert!(matches!(choose(1, true, false), Ok(Firmware::MpTable)), "--cpus 1");
        assert!(matches!(choose(2, true, false), Ok(Firmware::MpTable)));
        assert_eq!((Firmware::Legacy.rsdp(), Firmware::MpTable.rsdp()), (None, None));
        for cpus in [1, 2, crate::smp::MAX_CPUS] {
            let Ok(Firmware::Acpi(tables)) = choose(cpus, cpus > 1, true) else {
                panic!("{cpus}: ACPI")
            };
            assert_eq!(Firmware::Acpi(tables.clone()).rsdp(), Some(acpi::RSDP_ADDR));
            assert_eq!(tables, acpi::build(&platform_with_disk(cpus)).unwrap());
            // The whole blob lies in a range the E820 map reserves.
            let (start, end) = (tables.gpa, tables.gpa + tables.bytes.len() as u64);
            let reserved = e820_map(256 << 20)
                .into_iter()
                .any(|e| e.kind == E820_RESERVED && e.addr <= start && end <= e.addr + e.size);
            assert!(reserved, "{start:#x}..{end:#x}");
        }
    }

    #[test]
    fn the_platform_is_com1_and_the_disk_the_machine_has() {
        let p = platform_with_disk(2);
        assert_eq!(p.cpus, 2);
        assert_eq!(p.com1, Some(SerialPort { port: 0x3F8, gsi: 4 }));
        assert_eq!(p.virtio_mmio, [MmioDevice { base: 0xD000_0000, size: 0x1000, gsi: 5 }]);
    }
}
