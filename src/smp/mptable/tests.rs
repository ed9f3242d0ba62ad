//! The MP table read back as an OS reads it (xv6's mp.c, Linux's mpparse.c): the floating
//! pointer found by its signature and checksum, the table's header, then every entry.

use super::*;

fn sum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, b| s.wrapping_add(*b))
}

fn le16(b: &[u8], at: usize) -> usize {
    usize::from(u16::from_le_bytes([b[at], b[at + 1]]))
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

/// (processor APIC IDs with their flags, I/O APIC ID, ISA IRQ -> pin, local interrupts)
type Parsed = (Vec<(u8, u8)>, u8, Vec<(u8, u8)>, Vec<(u8, u8)>);

fn parse(bytes: &[u8]) -> Parsed {
    assert_eq!(&bytes[0..4], b"_MP_");
    assert_eq!(sum(&bytes[..16]), 0, "floating pointer checksum");
    assert_eq!((bytes[8], bytes[9], bytes[11]), (1, 4, 0), "16 bytes, 1.4, a table follows");
    let at = (le32(bytes, 4) as u64 - EBDA) as usize;
    let table = &bytes[at..];
    assert_eq!(&table[0..4], b"PCMP");
    let length = le16(table, 4);
    assert_eq!(length, table.len(), "the base table is the rest of the bytes");
    assert_eq!(sum(&table[..length]), 0, "table checksum");
    assert_eq!(le32(table, 36), LAPIC_ADDR);
    let (mut cpus, mut ioapic, mut irqs, mut lints) = (Vec::new(), None, Vec::new(), Vec::new());
    let mut p = 44;
    for _ in 0..le16(table, 34) {
        match table[p] {
            PROCESSOR => {
                cpus.push((table[p + 1], table[p + 3]));
                p += 20;
            }
            BUS => {
                assert_eq!(&table[p + 2..p + 8], b"ISA   ");
                p += 8;
            }
            IOAPIC => {
                assert_eq!(le32(table, p + 4), IOAPIC_ADDR);
                ioapic = Some(table[p + 1]);
                p += 8;
            }
            IO_INTERRUPT => {
                assert_eq!((table[p + 1], table[p + 6]), (INT, ioapic.expect("I/O APIC first")));
                irqs.push((table[p + 5], table[p + 7]));
                p += 8;
            }
            LOCAL_INTERRUPT => {
                assert_eq!(table[p + 6], 0xFF, "every local APIC");
                lints.push((table[p + 1], table[p + 7]));
                p += 8;
            }
            other => panic!("entry type {other}"),
        }
    }
    assert_eq!(p, length, "the entries fill the table");
    (cpus, ioapic.expect("an I/O APIC"), irqs, lints)
}

#[test]
fn two_cpus_the_first_the_bsp_and_the_io_apic_after_them() {
    let (cpus, ioapic, irqs, lints) = parse(&build(2));
    assert_eq!(cpus, [(0, CPU_ENABLED | CPU_BSP), (1, CPU_ENABLED)]);
    assert_eq!(ioapic, 2);
    assert_eq!(irqs, (0..16).map(|i| (i, i)).collect::<Vec<_>>(), "ISA IRQ n on pin n");
    assert_eq!(lints, [(EXTINT, 0), (NMI, 1)]);
}

#[test]
fn every_count_from_one_to_eight_fits_the_ebda_s_first_kib() {
    for n in 1..=8 {
        let bytes = build(n);
        assert!(bytes.len() <= 1024, "{n} CPUs: {} bytes", bytes.len());
        assert_eq!(parse(&bytes).0.len(), usize::from(n));
    }
}

#[test]
fn the_bda_points_at_the_ebda_as_a_pc_s_firmware_leaves_it() {
    assert_eq!(BDA_WORDS, [(0x40E, 0x9FC0), (0x413, 639)]);
    assert_eq!(EBDA % 16, 0, "the floating pointer is 16-byte aligned");
}

#[test]
fn checksums_make_the_bytes_sum_to_zero() {
    for bytes in [&b""[..], &[1], &[0xFF, 0xFF, 3]] {
        let mut with = bytes.to_vec();
        with.push(checksum(bytes));
        assert_eq!(sum(&with), 0);
    }
}
