//! The MP table: how a PC's firmware tells an operating system which CPUs and which I/O APIC
//! the machine has, and how the ISA interrupts reach them.
//!
//! Reference: Intel MultiProcessor Specification, version 1.4 (1997): 4.1 the MP floating
//! pointer structure, 4.2 the configuration table header, 4.3 its entries (Tables 4-4 to 4-8),
//! and 4.1's search order: the first KiB of the EBDA, the last KiB of base memory, then the BIOS
//! ROM at 0xF0000-0xFFFFF. xv6's `mp.c` is the shortest reader of it; kvmtool's `mptable.c` and
//! Firecracker's `mptable.rs` write one as mini-kvm does.
//!
//! ```text
//! 0x0040E  BDA: the EBDA's segment, 0x9FC0     0x00413  BDA: base memory, 639 KiB
//! 0x9FC00  "_MP_" floating pointer (16 bytes) ──► 0x9FC10  "PCMP" configuration table:
//!          header (LAPIC at 0xFEE00000), one processor entry per vCPU (APIC ID = vCPU index,
//!          the BSP flagged), bus 0 "ISA", the I/O APIC (ID = the CPU count, at 0xFEC00000),
//!          ISA IRQ n -> I/O APIC pin n for n < 16 (KVM's default routing), LINT0 = ExtINT and
//!          LINT1 = NMI on every local APIC
//! ```
//!
//! Both structures end in a checksum byte chosen so that all their bytes sum to 0 (mod 256).

/// The EBDA (extended BIOS data area), where the tables go: the last KiB of base memory, which
/// the Multiboot memory map and Linux's E820 map both reserve.
pub const EBDA: u64 = 0x9_FC00;
/// The BIOS data area's words an OS reads to find the EBDA (MP spec 4.1, and xv6's `mpsearch`):
/// the EBDA's real-mode segment at 0x40E, and the base memory size in KiB at 0x413. A kernel
/// that trusts them and reads zeros looks below address 0.
pub const BDA_WORDS: [(u64, u16); 2] = [(0x40E, (EBDA >> 4) as u16), (0x413, (EBDA >> 10) as u16)];

/// Where KVM's in-kernel local APICs and I/O APIC answer.
pub const LAPIC_ADDR: u32 = 0xFEE0_0000;
pub const IOAPIC_ADDR: u32 = 0xFEC0_0000;
/// The versions KVM's local APIC and I/O APIC report in their version registers.
const LAPIC_VERSION: u8 = 0x14;
const IOAPIC_VERSION: u8 = 0x11;
/// The ISA interrupts, each to the I/O APIC pin of the same number.
const ISA_IRQS: u8 = 16;

// Entry types (MP spec Table 4-3) and interrupt types (Table 4-7).
const PROCESSOR: u8 = 0;
const BUS: u8 = 1;
const IOAPIC: u8 = 2;
const IO_INTERRUPT: u8 = 3;
const LOCAL_INTERRUPT: u8 = 4;
const INT: u8 = 0;
const NMI: u8 = 1;
const EXTINT: u8 = 3;
/// Processor entry flags: the CPU is usable, and it is the bootstrap processor.
const CPU_ENABLED: u8 = 1;
const CPU_BSP: u8 = 2;
/// A family-6 CPU with an FPU and a local APIC (CPUID leaf 1 EDX bits 0 and 9), as kvmtool
/// describes its vCPUs; an OS takes the real values from CPUID.
const CPU_SIGNATURE: u32 = 0x600;
const CPU_FEATURES: u32 = 0x201;

/// The floating pointer and, after it, the configuration table, for `cpus` CPUs, as the bytes
/// to write at [`EBDA`]. Pure: tested on its bytes.
pub fn build(cpus: u8) -> Vec<u8> {
    let mut table = Vec::with_capacity(512);
    table.extend_from_slice(b"PCMP");
    table.extend_from_slice(&[0; 2]); // base table length, below
    table.extend_from_slice(&[4, 0]); // spec revision 1.4, checksum (below)
    table.extend_from_slice(b"MINI-KVM"); // OEM ID, 8 bytes
    table.extend_from_slice(b"PC          "); // product ID, 12 bytes
    table.extend_from_slice(&[0; 4 + 2]); // OEM table pointer and size: none
    table.extend_from_slice(&[0; 2]); // entry count, below
    table.extend_from_slice(&LAPIC_ADDR.to_le_bytes());
    table.extend_from_slice(&[0; 4]); // extended table length and checksum, reserved
    let mut entries = 0u16;
    for id in 0..cpus {
        let flags = CPU_ENABLED | if id == 0 { CPU_BSP } else { 0 };
        table.extend_from_slice(&[PROCESSOR, id, LAPIC_VERSION, flags]);
        table.extend_from_slice(&CPU_SIGNATURE.to_le_bytes());
        table.extend_from_slice(&CPU_FEATURES.to_le_bytes());
        table.extend_from_slice(&[0; 8]);
        entries += 1;
    }
    table.extend_from_slice(&[BUS, 0]);
    table.extend_from_slice(b"ISA   ");
    let ioapic_id = cpus; // the first APIC ID no CPU has
    table.extend_from_slice(&[IOAPIC, ioapic_id, IOAPIC_VERSION, 1]);
    table.extend_from_slice(&IOAPIC_ADDR.to_le_bytes());
    entries += 2;
    for irq in 0..ISA_IRQS {
        // Polarity and trigger mode "conform to the bus" (flags 0): ISA's edge, active high.
        table.extend_from_slice(&[IO_INTERRUPT, INT, 0, 0, 0, irq, ioapic_id, irq]);
        entries += 1;
    }
    for (kind, pin) in [(EXTINT, 0), (NMI, 1)] {
        // Destination 0xFF: every local APIC.
        table.extend_from_slice(&[LOCAL_INTERRUPT, kind, 0, 0, 0, 0, 0xFF, pin]);
        entries += 1;
    }
    let length = table.len() as u16; // at most 44 + 255 * 20 + 8 * 20 bytes
    table[4..6].copy_from_slice(&length.to_le_bytes());
    table[34..36].copy_from_slice(&entries.to_le_bytes());
    table[7] = checksum(&table);

    let mut pointer = Vec::with_capacity(16 + table.len());
    pointer.extend_from_slice(b"_MP_");
    pointer.extend_from_slice(&((EBDA + 16) as u32).to_le_bytes()); // the table follows
    pointer.extend_from_slice(&[1, 4, 0, 0, 0, 0, 0, 0]); // 16 bytes, spec 1.4, checksum
    pointer[10] = checksum(&pointer);
    pointer.extend_from_slice(&table);
    pointer
}

/// The byte that makes `bytes` sum to 0 (mod 256), given that the checksum byte is 0 in them.
pub fn checksum(bytes: &[u8]) -> u8 {
    0u8.wrapping_sub(bytes.iter().fold(0u8, |sum, b| sum.wrapping_add(*b)))
}

#[cfg(test)]
mod tests;
