//! ACPI tables: how a guest kernel learns about the CPUs, the interrupt controllers and the
//! devices no bus enumerates (here: COM1 and the virtio-mmio disk).
//!
//! Reference: ACPI Specification 6.5, 5.2.5 RSDP, 5.2.6 the table header, 5.2.8 XSDT, 5.2.9
//! FADT (5.2.9.1 flags, 5.2.9.3 IA-PC boot architecture flags), 5.2.11.1 DSDT, 5.2.12 MADT
//! (5.2.12.2 Processor Local APIC, 5.2.12.3 I/O APIC); the AML in the DSDT is in [`aml`].
//!
//! A virtio-mmio device sits at a fixed address with nothing to discover it: the kernel must be
//! told. The Debian kernels mini-kvm boots build `virtio_mmio` as a module and do not take the
//! `virtio_mmio.device=` command-line parameter, so the device is described the way those
//! kernels read it on x86: in ACPI, as Firecracker does. The tables, one blob at [`RSDP_ADDR`]:
//!
//! ```text
//! RSDP "RSD PTR " (0xE0000, in the BIOS area Linux scans; also boot_params.acpi_rsdp_addr)
//!  └─ XSDT ─┬─ FADT "FACP": hardware-reduced ACPI ── DSDT: AML, \_SB.COM1 and \_SB.VR00 ...
//!           └─ MADT "APIC": a Local APIC per CPU (IDs 0..N-1), the IOAPIC at 0xFEC00000
//! ```
//!
//! **Hardware-reduced** (FADT flag HW_REDUCED_ACPI, ACPI 5.0 and later) means there is no
//! fixed ACPI hardware: no PM timer, no SCI, no PM1 event and control blocks, none of which
//! mini-kvm has. Linux (arch/x86/kernel/acpi/boot.c, `acpi_generic_reduced_hw_init`) then also
//! drops the legacy PC: `legacy_pic` becomes the null PIC (interrupts go through the IOAPIC,
//! which the MADT names), the timer setup that would program the PIT is skipped (the LAPIC
//! timer and the TSC remain), and the ISA IRQs 0-15 get no identity mapping, so every device
//! that interrupts must be in the DSDT with its interrupt: COM1 (`PNP0501`, ports 0x3F8-0x3FF,
//! IRQ 4) as well as the virtio device (`LNRO0005`, its page and its line).
//!
//! No Interrupt Source Override is needed: KVM's default routing connects GSI n to IOAPIC
//! pin n (and, below 16, to the 8259s' IRQ n), which is what a MADT without overrides says.
//!
//! A Linux boot with a disk writes them (boot/linux/firmware.rs says when, and why only then);
//! this file only builds them, and its tests read them back.

pub mod aml;

use std::fmt;

/// Where the tables go: the RSDP first, at the start of the 128 KiB below 1 MiB that Linux
/// searches for it (on 16-byte boundaries) when the zero page does not say where it is.
pub const RSDP_ADDR: u64 = 0xE_0000;
/// The tables must end here (the BIOS area's end, 1 MiB).
pub const ACPI_AREA_END: u64 = 0x10_0000;

/// The Local APICs' address (SDM Vol. 3A 11.4.1) and the IOAPIC's, as KVM's in-kernel irqchip
/// places them.
pub const LAPIC_ADDR: u32 = 0xFEE0_0000;
pub const IOAPIC_ADDR: u32 = 0xFEC0_0000;
/// KVM's IOAPIC has 24 pins (KVM_IOAPIC_NUM_PINS): GSIs 0-23.
pub const IOAPIC_PINS: u32 = 24;
/// xAPIC IDs are 8 bits and 0xFF is the broadcast ID: CPUs 0-254.
pub const MAX_CPUS: u32 = 255;

/// The table header (5.2.6) is 36 bytes; its checksum byte is at 9.
pub const HEADER_LEN: usize = 36;
const CHECKSUM_AT: usize = 9;
const OEM_ID: [u8; 6] = *b"MINKVM";
const OEM_REVISION: u32 = 1;
const CREATOR_ID: [u8; 4] = *b"MKVM";
const CREATOR_REVISION: u32 = 1;

/// RSDP (5.2.5.3): signature, checksum of the first 20 bytes, OEM ID, revision 2, RSDT address
/// (none: 0), length 36, XSDT address, checksum of all 36 bytes, 3 reserved.
pub const RSDP_SIGNATURE: [u8; 8] = *b"RSD PTR ";
pub const RSDP_LEN: usize = 36;
pub const RSDP_CHECKSUM_LEN: usize = 20;
pub const RSDP_XSDT_ADDRESS: usize = 24;

/// FADT, revision 6 (ACPI 6.x): 276 bytes; the fields set here, by offset (Table 5.9).
pub const FADT_LEN: usize = 276;
pub const FADT_IAPC_BOOT_ARCH: usize = 109;
pub const FADT_FLAGS: usize = 112;
pub const FADT_MINOR_VERSION: usize = 131;
pub const FADT_X_DSDT: usize = 140;
pub const FADT_HYPERVISOR_VENDOR_ID: usize = 268;
/// FADT flags (5.2.9.1): no fixed power button, no fixed sleep button, hardware-reduced.
pub const FADT_F_PWR_BUTTON: u32 = 1 << 4;
pub const FADT_F_SLP_BUTTON: u32 = 1 << 5;
pub const FADT_F_HW_REDUCED_ACPI: u32 = 1 << 20;
/// IA-PC boot architecture flags (5.2.9.3), what mini-kvm's PC lacks: VGA, MSI (there is no
/// PCI), ASPM control, the CMOS RTC (Linux then registers no `rtc_cmos` device). Bit 1, "an
/// 8042 is present", stays clear: Linux skips the keyboard controller probe.
pub const IAPC_VGA_NOT_PRESENT: u16 = 1 << 2;
pub const IAPC_MSI_NOT_SUPPORTED: u16 = 1 << 3;
pub const IAPC_PCIE_ASPM_CONTROLS: u16 = 1 << 4;
pub const IAPC_CMOS_RTC_NOT_PRESENT: u16 = 1 << 5;

/// MADT interrupt controller structure types (5.2.12).
pub const MADT_LOCAL_APIC: u8 = 0;
pub const MADT_IO_APIC: u8 = 1;
/// Processor Local APIC flag: the CPU is usable.
const MADT_ENABLED: u32 = 1;

/// A virtio-mmio device: its register page and its interrupt line (a GSI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MmioDevice {
    pub base: u64,
    pub size: u64,
    pub gsi: u32,
}

/// A 16550A serial port on the ISA bus: its first port and its interrupt line (for COM1,
/// devices::uart's 0x3F8 and 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SerialPort {
    pub port: u16,
    pub gsi: u32,
}

/// What the tables describe.
#[derive(Debug, Clone, Copy)]
pub struct Platform<'a> {
    /// vCPUs, with APIC IDs 0..cpus-1.
    pub cpus: u32,
    /// COM1, described as `PNP0501` with its eight ports and its line.
    pub com1: Option<SerialPort>,
    pub virtio_mmio: &'a [MmioDevice],
}

/// The tables, laid out for guest-physical address `gpa` (the RSDP is at `gpa`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcpiTables {
    pub gpa: u64,
    pub bytes: Vec<u8>,
}

impl AcpiTables {
    /// For the zero page's `acpi_rsdp_addr`.
    pub fn rsdp_addr(&self) -> u64 {
        self.gpa
    }
}

/// A platform the tables cannot describe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AcpiError {
    Cpus(u32),
    /// A device's page is empty or not inside the 32-bit address space.
    MmioRange {
        base: u64,
        size: u64,
    },
    /// Past the IOAPIC's pins.
    Gsi(u32),
    /// Two devices on one line, which their descriptions say is exclusive (so there are at
    /// most as many devices as IOAPIC pins).
    SharedGsi(u32),
}

impl fmt::Display for AcpiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AcpiError::Cpus(n) => write!(
                f,
                "{n} CPUs: the MADT describes 1 to {MAX_CPUS} (8-bit APIC IDs, 0xFF is broadcast)"
            ),
            AcpiError::MmioRange { base, size } => write!(
                f,
                "MMIO range {base:#x}+{size:#x} is empty or not below 4 GiB (Memory32Fixed)"
            ),
            AcpiError::Gsi(gsi) => {
                write!(f, "interrupt {gsi} is past the IOAPIC's {IOAPIC_PINS} pins")
            }
            AcpiError::SharedGsi(gsi) => write!(f, "interrupt {gsi} is given to two devices"),
        }
    }
}

/// Sum of bytes, mod 256: a table is valid when its bytes sum to 0.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b))
}

/// A table: the 36-byte header (5.2.6) and `body`, its length set and checksum made.
fn table(signature: &[u8; 4], revision: u8, table_id: &[u8; 8], body: &[u8]) -> Vec<u8> {
    let len = HEADER_LEN + body.len();
    let mut t = Vec::with_capacity(len);
    t.extend_from_slice(signature);
    t.extend_from_slice(&(len as u32).to_le_bytes());
    t.push(revision);
    t.push(0); // checksum, below
    t.extend_from_slice(&OEM_ID);
    t.extend_from_slice(table_id);
    t.extend_from_slice(&OEM_REVISION.to_le_bytes());
    t.extend_from_slice(&CREATOR_ID);
    t.extend_from_slice(&CREATOR_REVISION.to_le_bytes());
    t.extend_from_slice(body);
    t[CHECKSUM_AT] = 0u8.wrapping_sub(checksum(&t));
    t
}

fn put(bytes: &mut [u8], at: usize, value: &[u8]) {
    bytes[at..at + value.len()].copy_from_slice(value);
}

/// The RSDP, revision 2, pointing at the XSDT.
fn rsdp(xsdt: u64) -> [u8; RSDP_LEN] {
    let mut r = [0u8; RSDP_LEN];
    put(&mut r, 0, &RSDP_SIGNATURE);
    put(&mut r, 9, &OEM_ID);
    r[15] = 2;
    put(&mut r, 20, &(RSDP_LEN as u32).to_le_bytes());
    put(&mut r, RSDP_XSDT_ADDRESS, &xsdt.to_le_bytes());
    r[8] = 0u8.wrapping_sub(checksum(&r[..RSDP_CHECKSUM_LEN]));
    r[32] = 0u8.wrapping_sub(checksum(&r));
    r
}

/// The XSDT: 64-bit addresses of the other tables (the DSDT is reached through the FADT).
fn xsdt(entries: &[u64]) -> Vec<u8> {
    let body: Vec<u8> = entries.iter().flat_map(|a| a.to_le_bytes()).collect();
    table(b"XSDT", 1, b"MKVMXSDT", &body)
}

/// The FADT: hardware-reduced, the DSDT's address in X_DSDT (the 32-bit DSDT field must then
/// be 0), every fixed-hardware block absent (0), and "MINI-KVM" as the hypervisor.
fn fadt(dsdt: u64) -> Vec<u8> {
    let mut body = vec![0u8; FADT_LEN - HEADER_LEN];
    let at = |offset: usize| offset - HEADER_LEN;
    let iapc = IAPC_VGA_NOT_PRESENT
        | IAPC_MSI_NOT_SUPPORTED
        | IAPC_PCIE_ASPM_CONTROLS
        | IAPC_CMOS_RTC_NOT_PRESENT;
    put(&mut body, at(FADT_IAPC_BOOT_ARCH), &iapc.to_le_bytes());
    let flags = FADT_F_PWR_BUTTON | FADT_F_SLP_BUTTON | FADT_F_HW_REDUCED_ACPI;
    put(&mut body, at(FADT_FLAGS), &flags.to_le_bytes());
    body[at(FADT_MINOR_VERSION)] = 5;
    put(&mut body, at(FADT_X_DSDT), &dsdt.to_le_bytes());
    put(&mut body, at(FADT_HYPERVISOR_VENDOR_ID), b"MINI-KVM");
    table(b"FACP", 6, b"MKVMFACP", &body)
}

/// The MADT: the Local APIC address, flags 0 (no PC-AT 8259s to mask: Linux in
/// hardware-reduced mode does not use them), a Processor Local APIC per CPU, the IOAPIC
/// (ID 0, the value KVM's IOAPIC resets its ID register to, GSIs from 0).
fn madt(cpus: u32) -> Vec<u8> {
    let mut body = Vec::with_capacity(8 + 8 * cpus as usize + 12);
    body.extend_from_slice(&LAPIC_ADDR.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    for id in 0..cpus {
        body.extend_from_slice(&[MADT_LOCAL_APIC, 8, id as u8, id as u8]);
        body.extend_from_slice(&MADT_ENABLED.to_le_bytes());
    }
    body.extend_from_slice(&[MADT_IO_APIC, 12, 0, 0]);
    body.extend_from_slice(&IOAPIC_ADDR.to_le_bytes());
    body.extend_from_slice(&0u32.to_le_bytes());
    table(b"APIC", 5, b"MKVMAPIC", &body)
}

/// The AML of `\_SB`: COM1 and the virtio-mmio devices, as [`aml`]'s header shows.
pub fn dsdt_aml(platform: &Platform) -> Vec<u8> {
    use aml::*;
    let mut devices = Vec::new();
    if let Some(com1) = platform.com1 {
        let mut hid = vec![DWORD_PREFIX];
        hid.extend_from_slice(&eisa_id(b"PNP0501").to_le_bytes());
        let crs = resource_template(&[
            io_port(com1.port, com1.port, 1, 8),
            interrupt(true, false, false, com1.gsi),
        ]);
        let body =
            [name(*b"_HID", &hid), name(*b"_UID", &integer(0)), name(*b"_CRS", &crs)].concat();
        devices.extend(device(*b"COM1", &body));
    }
    for (i, d) in platform.virtio_mmio.iter().enumerate() {
        let crs = resource_template(&[
            memory32_fixed(true, d.base as u32, d.size as u32),
            interrupt(true, false, false, d.gsi),
        ]);
        let body = [
            name(*b"_HID", &string("LNRO0005")),
            name(*b"_UID", &integer(i as u64)),
            name(*b"_CRS", &crs),
        ]
        .concat();
        let seg: aml::NameSeg = [b'V', b'R', b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        devices.extend(device(seg, &body));
    }
    scope(true, &[*b"_SB_"], &devices)
}

fn check(platform: &Platform) -> Result<(), AcpiError> {
    if platform.cpus == 0 || platform.cpus > MAX_CPUS {
        return Err(AcpiError::Cpus(platform.cpus));
    }
    let mut lines: Vec<u32> = Vec::new();
    if let Some(com1) = platform.com1 {
        if com1.gsi >= IOAPIC_PINS {
            return Err(AcpiError::Gsi(com1.gsi));
        }
        lines.push(com1.gsi);
    }
    for d in platform.virtio_mmio {
        if d.size == 0 || d.base.checked_add(d.size).is_none_or(|end| end > 1 << 32) {
            return Err(AcpiError::MmioRange { base: d.base, size: d.size });
        }
        if d.gsi >= IOAPIC_PINS {
            return Err(AcpiError::Gsi(d.gsi));
        }
        if lines.contains(&d.gsi) {
            return Err(AcpiError::SharedGsi(d.gsi));
        }
        lines.push(d.gsi);
    }
    Ok(())
}

/// Builds the tables for `platform`, the RSDP at [`RSDP_ADDR`], then the XSDT, FADT, MADT and
/// DSDT, each 16-byte aligned. At most a few KiB (255 CPUs and a device on each of the 24
/// lines: under 6 KiB), far inside the 128 KiB up to [`ACPI_AREA_END`].
pub fn build(platform: &Platform) -> Result<AcpiTables, AcpiError> {
    check(platform)?;
    let align = |n: usize| n.next_multiple_of(16);
    let xsdt_at = align(RSDP_LEN);
    let fadt_at = align(xsdt_at + HEADER_LEN + 2 * 8);
    let madt = madt(platform.cpus);
    let madt_at = align(fadt_at + FADT_LEN);
    let dsdt = table(b"DSDT", 2, b"MKVMDSDT", &dsdt_aml(platform));
    let dsdt_at = align(madt_at + madt.len());
    let gpa = |offset: usize| RSDP_ADDR + offset as u64;
    let mut bytes = vec![0u8; dsdt_at + dsdt.len()];
    put(&mut bytes, 0, &rsdp(gpa(xsdt_at)));
    put(&mut bytes, xsdt_at, &xsdt(&[gpa(fadt_at), gpa(madt_at)]));
    put(&mut bytes, fadt_at, &fadt(gpa(dsdt_at)));
    put(&mut bytes, madt_at, &madt);
    put(&mut bytes, dsdt_at, &dsdt);
    Ok(AcpiTables { gpa: RSDP_ADDR, bytes })
}

#[cfg(test)]
mod tests;
