//! Unit tests of the trace's classes and words (whole trace lines are compared by the
//! integration tests and the tour, on real exits).

use super::*;

fn usage(r: Result<u32, Ending>) -> String {
    match r {
        Err(Ending::Usage(text)) => text,
        other => panic!("{other:?}"),
    }
}

#[test]
fn classes_default_to_all_but_kicks_and_combine() {
    assert_eq!(parse_classes(None).ok(), Some(ALL & !KICK & !VIRTIO));
    assert_eq!(parse_classes(Some("all")).ok(), Some(ALL));
    assert_eq!(parse_classes(Some("hlt")).ok(), Some(HLT));
    assert_eq!(parse_classes(Some(" io, kick ,")).ok(), Some(IO | KICK));
    assert_eq!(ALL, CLASSES.iter().fold(0, |m, c| m | c.1), "ALL is every class");
}

#[test]
fn unknown_or_empty_classes_are_usage_errors_naming_the_known_ones() {
    assert_eq!(
        usage(parse_classes(Some("io,nope"))),
        "--trace: unknown class 'nope' (known: io, hypercall, uart, mmio, hlt, fault, irq, kick, debug, virtio, all)"
    );
    assert_eq!(usage(parse_classes(Some(""))), "--trace= needs at least one class");
    assert_eq!(usage(parse_classes(Some(",,"))), "--trace= needs at least one class");
}

#[test]
fn each_exit_is_traced_under_its_class() {
    let io = |port| Exit::Io { out: true, port, size: 1, count: 1 };
    assert_eq!(class(&io(0x500)), IO | HYPERCALL);
    assert_eq!(class(&io(0x3F8)), IO | UART);
    assert_eq!(class(&io(0x3FF)), IO | UART);
    assert_eq!(class(&io(0x400)), IO);
    assert_eq!(class(&Exit::Mmio { addr: 0, len: 1, write: false, data: [0; 8] }), MMIO);
    assert_eq!(class(&Exit::Hlt), HLT);
    assert_eq!(class(&Exit::Interrupted), KICK);
    assert_eq!(class(&Exit::Debug { exception: 1, pc: 0 }), DEBUG);
    assert_eq!(class(&Exit::Shutdown), FAULT);
    assert_eq!(class(&Exit::Other(77)), FAULT);
}

#[test]
fn bytes_read_as_text_quoted_or_not() {
    assert_eq!(byte_text(b'H', true), "'H'");
    assert_eq!(byte_text(b'\n', true), "'\\n'");
    assert_eq!(byte_text(b'\t', true), "'\\t'");
    assert_eq!(byte_text(0x07, true), "0x07");
    assert_eq!(byte_text(0xFF, true), "0xff");
    assert_eq!(byte_text(b'"', false), "\\\"");
    assert_eq!(byte_text(0x07, false), "\\x07");
    assert_eq!(byte_text(b'\r', false), "\\r");
    assert_eq!(byte_text(b' ', false), " ");
}

#[test]
fn port_data_is_little_endian() {
    assert_eq!(le(&[0x34, 0x12]), 0x1234);
    assert_eq!(le(&[0x78, 0x56, 0x34, 0x12]), 0x1234_5678);
    assert_eq!(le(&[]), 0);
}

#[test]
fn uart_bit_names_sit_on_the_datasheet_bits() {
    let bit = |names: &[&str], name: &str| 1u8 << names.iter().position(|n| *n == name).unwrap();
    assert_eq!((bit(LSR_BITS, "DR"), bit(LSR_BITS, "OE")), (LSR_DR, LSR_OE));
    assert_eq!((bit(LSR_BITS, "THRE"), bit(LSR_BITS, "TEMT")), (LSR_THRE, LSR_TEMT));
    let msr = [("DCTS", MSR_DCTS), ("DDSR", MSR_DDSR), ("TERI", MSR_TERI), ("DDCD", MSR_DDCD)];
    let lines = [("CTS", MSR_CTS), ("DSR", MSR_DSR), ("RI", MSR_RI), ("DCD", MSR_DCD)];
    for (name, mask) in msr.into_iter().chain(lines) {
        assert_eq!(bit(MSR_BITS, name), mask, "{name}");
    }
    assert_eq!(bit_names(u64::from(LSR_THRE | LSR_TEMT), LSR_BITS), "THRE TEMT");
}
