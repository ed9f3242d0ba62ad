//! Unit tests of the tables' rows and names (the counting itself runs in the integration
//! tests, through real exits).

use super::*;

#[test]
fn each_exit_has_its_row() {
    let io = |out| Exit::Io { out, port: 0x3F8, size: 1, count: 1 };
    let cases = [
        (io(true), "KVM_EXIT_IO (out)"),
        (io(false), "KVM_EXIT_IO (in)"),
        (Exit::Mmio { addr: 0, len: 4, write: true, data: [0; 8] }, "KVM_EXIT_MMIO"),
        (Exit::Hlt, "KVM_EXIT_HLT"),
        (Exit::Shutdown, "KVM_EXIT_SHUTDOWN"),
        (Exit::FailEntry { reason: 0, cpu: 0 }, "KVM_EXIT_FAIL_ENTRY"),
        (Exit::InternalError { suberror: 1, ndata: 0, data: [0; 16] }, "KVM_EXIT_INTERNAL_ERROR"),
        (Exit::SystemEvent { kind: 1 }, "KVM_EXIT_SYSTEM_EVENT"),
        (Exit::Debug { exception: 1, pc: 0 }, "KVM_EXIT_DEBUG"),
        (Exit::Interrupted, "KVM_EXIT_INTR (kick)"),
        (Exit::Malformed { reason: 2, why: "test" }, "other"),
        (Exit::Other(99), "other"),
    ];
    for (exit, label) in cases {
        assert_eq!(ROWS[row(&exit)], label, "{exit:?}");
    }
}

#[test]
fn the_table_shows_only_rows_with_exits_and_their_total() {
    let mut stats = Stats::new(true);
    stats.counts[row(&Exit::Hlt)] = 1;
    stats.counts[row(&Exit::Io { out: true, port: 0x500, size: 1, count: 1 })] = 12;
    let table = stats.table("vCPU 0 (hello)", 0);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines[0], "mini-kvm stats: vCPU 0 (hello)");
    assert_eq!(lines[1], format!("  {:<26} {:>10}", "KVM_EXIT_IO (out)", 12));
    assert_eq!(lines[2], format!("  {:<26} {:>10}", "KVM_EXIT_HLT", 1));
    assert_eq!(lines[3], format!("  {:<26} {:>10}", "total", 13));
    assert!(lines[4].starts_with("  wall ") && lines[4].ends_with(" ns per exit)"), "{table}");
    assert_eq!(lines.len(), 5);
    let coalesced = stats.table("vCPU 0 (hello)", 7);
    assert!(
        coalesced.contains(&format!("  {:<26} {:>10} (no exits)", "coalesced writes (COM1)", 7))
    );
}

#[test]
fn the_ports_an_os_probes_have_names() {
    for (port, name) in [
        (0x20, "8259 PIC"),
        (0x43, "8254 PIT"),
        (0x61, "PC speaker / NMI status"),
        (0x70, "CMOS RTC"),
        (0x80, "POST diagnostic"),
        (0x2F8, "COM2-COM4"),
        (0x3D4, "VGA"),
        (0x1F7, "IDE"),
        (0xCF8, "PCI configuration"),
        (0xCFC, "PCI configuration"),
        (0x500, "hypercall"),
        (0x1234, "unknown"),
    ] {
        assert_eq!(port_name(port), name, "{port:#x}");
    }
}
