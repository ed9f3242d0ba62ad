use super::aml::*;
use super::*;

const DISK: MmioDevice = MmioDevice { base: 0xD000_0000, size: 0x1000, gsi: 5 };

const COM1: SerialPort = SerialPort { port: 0x3F8, gsi: 4 };

fn platform(cpus: u32, devices: &[MmioDevice]) -> Platform<'_> {
    Platform { cpus, com1: Some(COM1), virtio_mmio: devices }
}

// ---------------------------------------------------------------------------------------------
// A small AML decoder for what aml.rs encodes: it checks that every package length ends exactly
// where its contents end, and gives back a tree to compare.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Obj {
    Scope(Vec<u8>, Vec<Obj>),
    Device(NameSeg, Vec<Obj>),
    Name(NameSeg, Box<Obj>),
    Int(u64),
    Str(String),
    Buffer(Vec<u8>),
}

/// Decodes a package length at `b[0..]`: (value, bytes it took).
fn decode_pkg_length(b: &[u8]) -> (usize, usize) {
    let extra = usize::from(b[0] >> 6);
    if extra == 0 {
        return (usize::from(b[0] & 0x3F), 1);
    }
    assert_eq!(b[0] & 0x30, 0, "bits 5-4 of a multi-byte PkgLength are 0");
    let mut v = usize::from(b[0] & 0x0F);
    for k in 0..extra {
        v |= usize::from(b[1 + k]) << (4 + 8 * k);
    }
    (v, 1 + extra)
}

/// The package at `b` (starting at its PkgLength): its contents and the bytes it took.
fn package(b: &[u8]) -> (&[u8], usize) {
    let (len, n) = decode_pkg_length(b);
    assert!(len >= n && len <= b.len(), "package length {len} of {}", b.len());
    (&b[n..len], len)
}

fn name_seg(b: &[u8]) -> NameSeg {
    let seg: NameSeg = b[..4].try_into().unwrap();
    assert!(seg[0].is_ascii_uppercase() || seg[0] == b'_', "{seg:?}");
    assert!(seg[1..].iter().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == b'_'));
    seg
}

fn decode_data(b: &[u8]) -> (Obj, usize) {
    match b[0] {
        ZERO_OP => (Obj::Int(0), 1),
        ONE_OP => (Obj::Int(1), 1),
        BYTE_PREFIX => (Obj::Int(u64::from(b[1])), 2),
        WORD_PREFIX => (Obj::Int(u64::from(u16::from_le_bytes([b[1], b[2]]))), 3),
        DWORD_PREFIX => (Obj::Int(u64::from(u32::from_le_bytes(b[1..5].try_into().unwrap()))), 5),
        QWORD_PREFIX => (Obj::Int(u64::from_le_bytes(b[1..9].try_into().unwrap())), 9),
        STRING_PREFIX => {
            let end = b.iter().position(|&c| c == 0).unwrap();
            (Obj::Str(String::from_utf8(b[1..end].to_vec()).unwrap()), end + 1)
        }
        BUFFER_OP => {
            let (contents, len) = package(&b[1..]);
            let (size, n) = decode_data(contents);
            let Obj::Int(size) = size else { panic!("buffer size is not an integer") };
            assert_eq!(size as usize, contents.len() - n, "BufferSize");
            (Obj::Buffer(contents[n..].to_vec()), 1 + len)
        }
        op => panic!("unexpected data opcode {op:#x}"),
    }
}

fn decode_terms(mut b: &[u8]) -> Vec<Obj> {
    let mut out = Vec::new();
    while !b.is_empty() {
        let (obj, n) = match b[0] {
            SCOPE_OP => {
                let (contents, len) = package(&b[1..]);
                let name_len = match contents[0] {
                    ROOT_CHAR => 5,
                    _ => 4,
                };
                let name = contents[..name_len].to_vec();
                (Obj::Scope(name, decode_terms(&contents[name_len..])), 1 + len)
            }
            EXT_OP_PREFIX if b[1] == DEVICE_OP => {
                let (contents, len) = package(&b[2..]);
                (Obj::Device(name_seg(contents), decode_terms(&contents[4..])), 2 + len)
            }
            NAME_OP => {
                let (value, n) = decode_data(&b[5..]);
                (Obj::Name(name_seg(&b[1..]), Box::new(value)), 5 + n)
            }
            op => panic!("unexpected term opcode {op:#x}"),
        };
        out.push(obj);
        b = &b[n..];
    }
    out
}

/// A resource template's descriptors: (tag, body); checks the End Tag and its checksum.
fn decode_resources(b: &[u8]) -> Vec<(u8, Vec<u8>)> {
    assert_eq!(checksum(b), 0, "resource template checksum");
    let mut out = Vec::new();
    let mut at = 0;
    loop {
        let tag = b[at];
        if tag & 0x80 == 0 {
            let len = usize::from(tag & 7);
            if tag >> 3 == 0x0F {
                assert_eq!(len, 1);
                assert_eq!(at + 2, b.len(), "the End Tag is last");
                return out;
            }
            out.push((tag, b[at + 1..at + 1 + len].to_vec()));
            at += 1 + len;
        } else {
            let len = usize::from(u16::from_le_bytes([b[at + 1], b[at + 2]]));
            out.push((tag, b[at + 3..at + 3 + len].to_vec()));
            at += 3 + len;
        }
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

// ---------------------------------------------------------------------------------------------

#[test]
fn package_lengths_use_one_to_four_bytes() {
    assert_eq!(pkg_length(0), [1]);
    assert_eq!(pkg_length(62), [63]);
    // 63 bytes of contents: 65 with two length bytes: lead 0x40 | 1, then 65 >> 4.
    assert_eq!(pkg_length(63), [0x41, 0x04]);
    assert_eq!(pkg_length(4093), [0x4F, 0xFF]);
    assert_eq!(pkg_length(4094), [0x81, 0x00, 0x01]);
    assert_eq!(pkg_length((1 << 20) - 4), [0x8F, 0xFF, 0xFF]);
    assert_eq!(pkg_length((1 << 20) - 3), [0xC1, 0x00, 0x00, 0x01]);
    for contents in (0..70_000).step_by(7).chain([PKG_LENGTH_MAX - 4]) {
        let enc = pkg_length(contents);
        let (value, n) = decode_pkg_length(&enc);
        assert_eq!(n, enc.len());
        assert_eq!(value, contents + n, "{contents}");
    }
}

#[test]
fn small_encodings() {
    assert_eq!(eisa_id(b"PNP0501"), 0x0105_D041);
    assert_eq!(eisa_id(b"PNP0A03"), 0x030A_D041);
    assert_eq!(integer(0), [ZERO_OP]);
    assert_eq!(integer(1), [ONE_OP]);
    assert_eq!(integer(5), [BYTE_PREFIX, 5]);
    assert_eq!(integer(0x3F8), [WORD_PREFIX, 0xF8, 0x03]);
    assert_eq!(integer(0xD000_0000), [DWORD_PREFIX, 0, 0, 0, 0xD0]);
    assert_eq!(integer(1 << 32), [QWORD_PREFIX, 0, 0, 0, 0, 1, 0, 0, 0]);
    assert_eq!(string("LNRO0005"), b"\x0DLNRO0005\0");
    assert_eq!(name_string(true, &[*b"_SB_"]), b"\\_SB_");
    assert_eq!(name_string(false, &[*b"_SB_", *b"VR00"]), b"\x2E_SB_VR00");
    assert_eq!(name_string(true, &[*b"_SB_", *b"PCI0", *b"VR00"]), b"\\\x2F\x03_SB_PCI0VR00");
    assert_eq!(name_string(false, &[]), [0]);
    assert_eq!(
        memory32_fixed(true, 0xD000_0000, 0x1000),
        [0x86, 9, 0, 1, 0, 0, 0, 0xD0, 0, 0x10, 0, 0]
    );
    assert_eq!(interrupt(true, false, false, 5), [0x89, 6, 0, 0b0011, 1, 5, 0, 0, 0]);
    assert_eq!(interrupt(false, true, true, 9)[3], 0b1101);
    assert_eq!(io_port(0x3F8, 0x3F8, 1, 8), [0x47, 1, 0xF8, 3, 0xF8, 3, 1, 8]);
}

#[test]
fn a_resource_template_ends_with_a_checksummed_end_tag() {
    let t = resource_template(&[
        memory32_fixed(true, 0xD000_0000, 0x1000),
        interrupt(true, false, false, 5),
    ]);
    let (obj, n) = decode_data(&t);
    assert_eq!(n, t.len());
    let Obj::Buffer(bytes) = obj else { panic!("{obj:?}") };
    assert_eq!(bytes.len(), 12 + 9 + 2);
    assert_eq!(bytes[21], END_TAG);
    assert_eq!(checksum(&bytes), 0);
    assert_eq!(
        decode_resources(&bytes),
        [(0x86, vec![1, 0, 0, 0, 0xD0, 0, 0x10, 0, 0]), (0x89, vec![0b0011, 1, 5, 0, 0, 0]),]
    );
}

#[test]
fn the_dsdt_aml_decodes_back_to_com1_and_the_disk() {
    let second = MmioDevice { base: 0xD000_1000, size: 0x1000, gsi: 6 };
    let aml = dsdt_aml(&platform(1, &[DISK, second]));
    let tree = decode_terms(&aml);
    let [Obj::Scope(path, devices)] = &tree[..] else { panic!("{tree:?}") };
    assert_eq!(path, b"\\_SB_");
    let crs = |obj: &Obj| -> Vec<(u8, Vec<u8>)> {
        let Obj::Buffer(b) = obj else { panic!("{obj:?}") };
        decode_resources(b)
    };
    let Obj::Device(name, body) = &devices[0] else { panic!("{devices:?}") };
    assert_eq!(name, b"COM1");
    assert_eq!(
        body[..2],
        [
            Obj::Name(*b"_HID", Box::new(Obj::Int(0x0105_D041))),
            Obj::Name(*b"_UID", Box::new(Obj::Int(0))),
        ]
    );
    let Obj::Name(n, res) = &body[2] else { panic!() };
    assert_eq!(n, b"_CRS");
    assert_eq!(
        crs(res),
        [(0x47, vec![1, 0xF8, 3, 0xF8, 3, 1, 8]), (0x89, vec![0b0011, 1, 4, 0, 0, 0]),]
    );
    for (i, d) in [DISK, second].iter().enumerate() {
        let Obj::Device(name, body) = &devices[1 + i] else { panic!("{devices:?}") };
        assert_eq!(name, &[b'V', b'R', b'0', b'0' + i as u8]);
        assert_eq!(
            body[..2],
            [
                Obj::Name(*b"_HID", Box::new(Obj::Str("LNRO0005".into()))),
                Obj::Name(*b"_UID", Box::new(Obj::Int(i as u64))),
            ]
        );
        let Obj::Name(_, res) = &body[2] else { panic!() };
        let r = crs(res);
        assert_eq!(r[0].0, 0x86);
        assert_eq!(u32_at(&r[0].1, 1), d.base as u32);
        assert_eq!(u32_at(&r[0].1, 5), d.size as u32);
        assert_eq!(r[1], (0x89, vec![0b0011, 1, d.gsi as u8, 0, 0, 0]));
    }
    assert_eq!(devices.len(), 3);
}

/// Follows the tables from the RSDP as a kernel does; returns (FADT, MADT, DSDT) as slices.
fn walk(t: &AcpiTables) -> (&[u8], &[u8], &[u8]) {
    let b = &t.bytes;
    let table_at = |gpa: u64, sig: &[u8; 4]| -> &[u8] {
        let at = (gpa - t.gpa) as usize;
        assert_eq!(&b[at..at + 4], sig);
        let len = u32_at(b, at + 4) as usize;
        let table = &b[at..at + len];
        assert_eq!(checksum(table), 0, "{} checksum", String::from_utf8_lossy(sig));
        assert_eq!(&table[10..16], b"MINKVM");
        table
    };
    assert_eq!(&b[..8], b"RSD PTR ");
    assert_eq!(checksum(&b[..20]), 0, "RSDP checksum");
    assert_eq!(checksum(&b[..36]), 0, "RSDP extended checksum");
    assert_eq!(b[15], 2, "RSDP revision");
    assert_eq!(u32_at(b, 16), 0, "no RSDT");
    assert_eq!(u32_at(b, 20), 36);
    let xsdt = table_at(u64_at(b, 24), b"XSDT");
    assert_eq!(xsdt.len(), 36 + 16);
    let fadt = table_at(u64_at(xsdt, 36), b"FACP");
    let madt = table_at(u64_at(xsdt, 44), b"APIC");
    let dsdt = table_at(u64_at(fadt, FADT_X_DSDT), b"DSDT");
    (fadt, madt, dsdt)
}

#[test]
fn the_tables_chain_from_the_rsdp_with_valid_checksums() {
    let t = build(&platform(1, &[DISK])).unwrap();
    assert_eq!(t.gpa, RSDP_ADDR);
    assert_eq!(t.rsdp_addr() % 16, 0, "Linux scans on 16-byte boundaries");
    assert!(t.gpa + t.bytes.len() as u64 <= ACPI_AREA_END);
    let (fadt, _, dsdt) = walk(&t);
    assert_eq!(dsdt[8], 2, "DSDT revision 2: 64-bit integers");
    assert_eq!(decode_terms(&dsdt[36..]).len(), 1, "one scope, all bytes decoded");
    // FADT: revision 6, 276 bytes, hardware-reduced, DSDT only in X_DSDT.
    assert_eq!((fadt.len(), fadt[8], fadt[FADT_MINOR_VERSION]), (276, 6, 5));
    let flags = u32_at(fadt, FADT_FLAGS);
    assert_ne!(flags & FADT_F_HW_REDUCED_ACPI, 0);
    assert_eq!(flags, (1 << 20) | (1 << 5) | (1 << 4));
    assert_eq!(u32_at(fadt, 40), 0, "the 32-bit DSDT field is 0 when X_DSDT is set");
    assert_eq!(u32_at(fadt, 36), 0, "no FACS: hardware-reduced");
    assert_eq!(u16::from_le_bytes([fadt[46], fadt[47]]), 0, "no SCI");
    let iapc = u16::from_le_bytes([fadt[FADT_IAPC_BOOT_ARCH], fadt[FADT_IAPC_BOOT_ARCH + 1]]);
    assert_eq!(iapc, 0b11_1100, "no VGA, MSI, ASPM, CMOS RTC; no 8042");
    assert_eq!(&fadt[FADT_HYPERVISOR_VENDOR_ID..], b"MINI-KVM");
}

#[test]
fn the_madt_lists_each_cpu_and_the_ioapic() {
    for cpus in [1, 2, 4, 64, MAX_CPUS] {
        let t = build(&platform(cpus, &[DISK])).unwrap();
        let (_, madt, _) = walk(&t);
        assert_eq!(u32_at(madt, 36), 0xFEE0_0000);
        assert_eq!(u32_at(madt, 40), 0, "flags");
        let mut at = 44;
        let mut ids = Vec::new();
        let mut ioapics = Vec::new();
        while at < madt.len() {
            let (kind, len) = (madt[at], usize::from(madt[at + 1]));
            let e = &madt[at..at + len];
            match kind {
                MADT_LOCAL_APIC => {
                    assert_eq!(len, 8);
                    assert_eq!(e[2], e[3], "processor UID = APIC ID");
                    assert_eq!(u32_at(e, 4), 1, "enabled");
                    ids.push(u32::from(e[3]));
                }
                MADT_IO_APIC => {
                    assert_eq!(len, 12);
                    ioapics.push((e[2], u32_at(e, 4), u32_at(e, 8)));
                }
                k => panic!("unexpected MADT entry {k}"),
            }
            at += len;
        }
        assert_eq!(at, madt.len());
        assert_eq!(ids, (0..cpus).collect::<Vec<_>>());
        assert_eq!(ioapics, [(0, 0xFEC0_0000, 0)]);
        assert!(t.gpa + t.bytes.len() as u64 <= ACPI_AREA_END);
    }
}

#[test]
fn the_largest_platform_fits_below_one_mib() {
    // COM1 on line 4 and a device on each of the 23 others.
    let devices: Vec<MmioDevice> = (0..24u32)
        .filter(|&gsi| gsi != 4)
        .map(|gsi| MmioDevice { base: 0xD000_0000 + u64::from(gsi) * 0x1000, size: 0x1000, gsi })
        .collect();
    let t = build(&platform(MAX_CPUS, &devices)).unwrap();
    walk(&t);
    assert!(t.bytes.len() < 6 * 1024, "{}", t.bytes.len());
    // No COM1, no devices: still a valid set of tables.
    let bare = Platform { cpus: 1, com1: None, virtio_mmio: &[] };
    let tables = build(&bare).unwrap();
    let (_, _, dsdt) = walk(&tables);
    assert_eq!(decode_terms(&dsdt[36..]), [Obj::Scope(b"\\_SB_".to_vec(), vec![])]);
}

#[test]
fn platforms_the_tables_cannot_describe_are_refused() {
    let d = |base, size, gsi| MmioDevice { base, size, gsi };
    let cases: [(u32, Vec<MmioDevice>, AcpiError); 7] = [
        (0, vec![DISK], AcpiError::Cpus(0)),
        (256, vec![DISK], AcpiError::Cpus(256)),
        (1, vec![d(0xD000_0000, 0x1000, 24)], AcpiError::Gsi(24)),
        (1, vec![d(0xD000_0000, 0x1000, 4)], AcpiError::SharedGsi(4)),
        (1, vec![DISK, DISK], AcpiError::SharedGsi(5)),
        (
            1,
            vec![d(0xFFFF_F000, 0x2000, 5)],
            AcpiError::MmioRange { base: 0xFFFF_F000, size: 0x2000 },
        ),
        (1, vec![d(0xD000_0000, 0, 5)], AcpiError::MmioRange { base: 0xD000_0000, size: 0 }),
    ];
    for (cpus, devices, expected) in cases {
        assert_eq!(build(&platform(cpus, &devices)), Err(expected));
    }
    let odd_com1 =
        Platform { cpus: 1, com1: Some(SerialPort { port: 0x3F8, gsi: 30 }), virtio_mmio: &[] };
    assert_eq!(build(&odd_com1), Err(AcpiError::Gsi(30)));
    assert_eq!(
        AcpiError::Cpus(256).to_string(),
        "256 CPUs: the MADT describes 1 to 255 (8-bit APIC IDs, 0xFF is broadcast)"
    );
    assert_eq!(AcpiError::Gsi(24).to_string(), "interrupt 24 is past the IOAPIC's 24 pins");
}

#[test]
fn the_recommended_disk_is_describable() {
    use crate::virtio::{VIRTIO_BLK_IRQ, VIRTIO_BLK_MMIO_BASE, VIRTIO_MMIO_SIZE};
    let disk =
        MmioDevice { base: VIRTIO_BLK_MMIO_BASE, size: VIRTIO_MMIO_SIZE, gsi: VIRTIO_BLK_IRQ };
    assert_eq!(disk, DISK);
    use crate::devices::uart::{COM1_BASE, COM1_IRQ};
    assert_eq!((COM1.port, COM1.gsi), (COM1_BASE, COM1_IRQ));
    walk(&build(&platform(1, &[disk])).unwrap());
}
