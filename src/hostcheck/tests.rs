//! Unit tests of the findings' reading (mod.rs), the table (report.rs), the keys (keys.rs)
//! and the words for a probe's ending (probe.rs): no KVM needed.

use super::probe::stopped_by;
use super::*;
use crate::kvm::Exit;

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
        io_rip: Ok(IoRipRule::AT_INSTRUCTION),
        shutdown_regs_kept: Ok(true),
        sync_regs: 7,
        immediate_exit: true,
        coalesced_pio: true,
        coalesced_page: 2,
        ioeventfd: Works::Yes,
        irqfd: Works::Yes,
        nr_vcpus: 4,
        ap_start: Works::Yes,
        max_vcpus: 1024,
        hw_breakpoints: 4,
        seccomp: Some(41),
        cpu: Cpu { vmx: true, svm: false, nested: false },
    }
}

#[test]
fn columns_do_not_move_with_measured_numbers() {
    let (mut a, mut b) = (findings(), findings());
    (a.ten_ticks_ms, b.ten_ticks_ms) = (9.0, 12345.0);
    (a.exit_cost_us, b.exit_cost_us) = (Some(1.0), Some(1234.5));
    let (ta, tb) = (report::table(&a), report::table(&b));
    let line = |t: &str, row: &str| t.lines().find(|l| l.contains(row)).unwrap().to_string();
    for row in ["in-kernel irqchip", "exit cost", "real mode"] {
        assert_eq!(line(&ta, row).find("  "), line(&tb, row).find("  "), "{row}");
    }
    assert_eq!(line(&ta, "exit cost")[..72], line(&tb, "exit cost")[..72]);
    assert_ne!(line(&ta, "exit cost"), line(&tb, "exit cost"), "the measurements are shown");
}

#[test]
fn the_kind_follows_what_the_probes_saw() {
    let f = findings();
    assert!(!f.paravirtual());
    assert_eq!(f.kind(), "Intel VMX");
    let mut pv = findings();
    pv.paging32 = Paging32::PgDropped { wanted: 0x8000_0011, read_back: 0x11 };
    pv.int_ring3 = IntRing3::UdAtInt;
    (pv.ring3_ns, pv.ring0_ns) = (Some(1.0), Some(900.0));
    assert!(pv.paravirtual());
    assert_eq!(pv.kind(), "paravirtual");
    assert!(!pv.steps_in_ring3());
    // Linux boots wherever the KVM is not paravirtual (and has long mode and an irqchip).
    assert!(f.linux_boots() && !pv.linux_boots());
    assert!(keys::keys(&f).ends_with("linux-boot yes\n"));
    assert!(keys::keys(&pv).ends_with("linux-boot no\n"));
    assert!(report::table(&pv).contains("--linux exits 4"));
    assert!(report::table(&pv).contains("\n-- single-step in ring 3 "));
    assert!(!report::table(&f).contains("single-step in ring 3"));
    let mut nested = findings();
    nested.cpu = Cpu { vmx: false, svm: true, nested: true };
    (nested.ring3_ns, nested.ring0_ns) = (Some(500.0), Some(500.0));
    assert_eq!(nested.kind(), "AMD SVM, nested");
    assert!(nested.steps_in_ring3());
}

#[test]
fn keys_hold_no_measurements() {
    let k = keys::keys(&findings());
    assert!(k.starts_with("kind real\nname Intel VMX\n"), "{k}");
    assert!(k.contains("\nio-out-rip at\nio-in-rip at\n"), "{k}");
    assert!(k.contains("\nint-ring3 idt\n"), "{k}");
    for line in k.lines() {
        assert!(line.split(' ').count() >= 2, "{line}");
    }
    let mut f = findings();
    f.io_rip = Err("no".into());
    assert!(!keys::keys(&f).contains("rip"), "an unmeasured rule has no keys");
}

#[test]
fn cpuinfo_flags_name_the_hardware() {
    let cpu =
        Cpu::parse("processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu svm hypervisor\n");
    assert_eq!(cpu, Cpu { vmx: false, svm: true, nested: true });
    let intel = Cpu::parse("vendor_id\t: GenuineIntel\nflags\t\t: fpu vmx\nflags : svm\n");
    assert_eq!(intel, Cpu { vmx: true, svm: false, nested: false }, "the first processor's");
    assert_eq!(Cpu::parse(""), Cpu::default());
}

#[test]
fn failures_are_marked_and_listed() {
    let mut f = findings();
    assert!(f.missing().is_empty());
    assert!(report::table(&f).ends_with("mini-kvm's guests: all of them can run here.\n"));
    f.long_mode = Works::No("KVM_EXIT_SHUTDOWN (triple fault)".into());
    f.immediate_exit = false;
    let t = report::table(&f);
    assert_eq!(f.missing(), ["long mode", "KVM_CAP_IMMEDIATE_EXIT"]);
    assert!(
        t.contains("\n-- long mode                 no: KVM_EXIT_SHUTDOWN (triple fault)"),
        "{t}"
    );
    assert!(t.ends_with("(missing: long mode, KVM_CAP_IMMEDIATE_EXIT).\n"), "{t}");
}

#[test]
fn ring3_alone_native_needs_both_loops_and_a_wide_split() {
    assert!(ring3_alone_native(Some(1.0), Some(2000.0)));
    assert!(!ring3_alone_native(Some(1.0), Some(15.0)), "both native");
    assert!(!ring3_alone_native(Some(19.0), Some(30.0)), "both near the threshold (QEMU TCG)");
    assert!(!ring3_alone_native(Some(1.0), None));
}

#[test]
fn a_probe_ended_by_an_exit_names_it() {
    assert_eq!(stopped_by(&Exit::Shutdown), "KVM_EXIT_SHUTDOWN (triple fault)");
    assert_eq!(stopped_by(&Exit::Hlt), "KVM_EXIT_HLT");
    let internal = |suberror| Exit::InternalError { suberror, ndata: 0, data: [0; 16] };
    assert_eq!(stopped_by(&internal(1)), "emulation failure (KVM_EXIT_INTERNAL_ERROR)");
    assert_eq!(stopped_by(&internal(3)), "KVM_EXIT_INTERNAL_ERROR, suberror 3");
    assert_eq!(stopped_by(&Exit::FailEntry { reason: 0x21, cpu: 0 }), "KVM_EXIT_FAIL_ENTRY (0x21)");
    assert_eq!(stopped_by(&Exit::SystemEvent { kind: 2 }), "KVM_EXIT_SYSTEM_EVENT 2");
}
