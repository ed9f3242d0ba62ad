//! Unit tests of the --host-check report (report.rs).

use super::*;
use crate::hostcheck::{Cpu, IoRip};

fn findings() -> Findings {
    Findings {
        api_version: 12,
        real_mode: Works::Yes,
        exit_cost_us: Some(6.0),
        protected_mode: Works::Yes,
        paging32: Paging32::Works,
        long_mode: Works::Yes,
        interrupts: Works::Yes,
        ten_ticks_ms: 100.0,
        int_ring3: IntRing3::ThroughIdt,
        int_pm32: Works::Yes,
        ring3_ns: Some(1.0),
        ring0_ns: Some(1.0),
        single_step: SingleStep::Works { first_pcs: (1, 2) },
        sw_breakpoints: Ok(true),
        io_rip: Ok(IoRip {
            out_after: false,
            in_after: false,
        }),
        shutdown_regs_kept: Ok(true),
        sync_regs: 7,
        immediate_exit: true,
        coalesced_pio: true,
        coalesced_page: 2,
        nr_vcpus: 4,
        max_vcpus: 1024,
        hw_breakpoints: 4,
        seccomp: Some(41),
        cpu: Cpu {
            vendor: "GenuineIntel".into(),
            vmx: true,
            svm: false,
            nested: false,
        },
    }
}

#[test]
fn columns_do_not_move_with_measured_numbers() {
    let mut a = findings();
    let mut b = findings();
    a.ten_ticks_ms = 9.0;
    b.ten_ticks_ms = 12345.0;
    a.exit_cost_us = Some(1.0);
    b.exit_cost_us = Some(1234.5);
    let (ta, _) = table(&a);
    let (tb, _) = table(&b);
    let column = |t: &str, row: &str| {
        let line = t.lines().find(|l| l.contains(row)).unwrap().to_string();
        line.find("  ").unwrap()
    };
    for row in ["in-kernel irqchip", "exit cost", "real mode"] {
        assert_eq!(column(&ta, row), column(&tb, row));
    }
    let meaning_at =
        |t: &str| t.lines().find(|l| l.contains("exit cost")).unwrap()[..72].to_string();
    assert_eq!(meaning_at(&ta), meaning_at(&tb));
}

#[test]
fn the_kind_follows_what_the_probes_saw() {
    let f = findings();
    assert!(!f.paravirtual());
    assert_eq!(f.kind(), "Intel VMX");
    let mut pv = findings();
    pv.paging32 = Paging32::PgDropped {
        wanted: 0x8000_0011,
        read_back: 0x11,
    };
    pv.int_ring3 = IntRing3::UdAtInt;
    pv.ring3_ns = Some(1.0);
    pv.ring0_ns = Some(900.0);
    assert!(pv.paravirtual());
    assert_eq!(pv.kind(), "paravirtual");
    assert!(!pv.steps_in_ring3());
    // Linux boots wherever the KVM is not paravirtual (and has long mode and an irqchip).
    assert!(f.linux_boots() && !pv.linux_boots());
    assert!(keys(&f).ends_with("linux-boot yes\n"));
    assert!(keys(&pv).ends_with("linux-boot no\n"));
    assert!(table(&pv).0.contains("--linux exits 4"));
    let mut nested = findings();
    nested.cpu = Cpu {
        vendor: "AuthenticAMD".into(),
        vmx: false,
        svm: true,
        nested: true,
    };
    nested.ring3_ns = Some(500.0);
    nested.ring0_ns = Some(500.0);
    assert_eq!(nested.kind(), "AMD SVM, nested");
    assert!(nested.steps_in_ring3());
}

#[test]
fn keys_hold_no_measurements() {
    let k = keys(&findings());
    assert!(k.starts_with("kind real\nname Intel VMX\n"), "{k}");
    assert!(k.contains("\nio-out-rip at\nio-in-rip at\n"), "{k}");
    assert!(k.contains("\nint-ring3 idt\n"), "{k}");
    for line in k.lines() {
        assert!(line.split(' ').count() >= 2, "{line}");
    }
}

#[test]
fn cpuinfo_flags_name_the_hardware() {
    let cpu =
        Cpu::parse("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu svm hypervisor\n");
    assert_eq!(cpu.vendor, "AuthenticAMD");
    assert!(cpu.svm && cpu.nested && !cpu.vmx);
}

#[test]
fn failures_are_marked_and_listed() {
    let mut f = findings();
    f.long_mode = Works::No("KVM_EXIT_SHUTDOWN (triple fault)".into());
    let (t, all) = table(&f);
    assert!(!all);
    assert!(t.contains("-- long mode"), "{t}");
    assert!(t.ends_with("(missing: long mode).\n"), "{t}");
}
