//! `--host-check` on the real /dev/kvm: every row, the status, and for each kind of KVM the
//! exact answers its probes must give (docs/kvm-variants.md): a paravirtual KVM drops CR0.PG
//! and turns `int n` into #UD; a hardware (VMX/SVM) KVM runs both as the CPU manual says.

mod common;
use common::*;

fn row<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.get(3..).is_some_and(|rest| rest.starts_with(name)))
        .unwrap_or_else(|| panic!("no row {name:?} in:\n{table}"))
}

/// The result column of a row (the text after the name, up to the meaning).
fn result<'a>(table: &'a str, name: &str) -> &'a str {
    row(table, name)[3 + 24..].trim_start().split("  ").next().unwrap_or("")
}

#[test]
fn host_check_prints_every_row_and_passes_here() {
    let r = run_with(&["--host-check"], b"", &[], std::time::Duration::from_secs(60));
    assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
    let t = &r.stdout;
    for name in [
        "real mode",
        "32-bit protected mode",
        "32-bit paging",
        "long mode",
        "in-kernel irqchip + PIT",
        "int n from ring 3",
        "int n in 32-bit ring 0",
        "ring-3 and ring-0 code",
        "single-step",
        "software breakpoints",
        "RIP at KVM_EXIT_IO",
        "state at a triple fault",
        "KVM_CAP_SYNC_REGS",
        "KVM_CAP_IMMEDIATE_EXIT",
        "vCPUs",
        "start a second CPU",
        "seccomp filter",
        "exit cost",
        "Linux boot (--linux)",
    ] {
        row(t, name);
    }
    for name in ["real mode", "32-bit protected mode", "long mode"] {
        assert_eq!(result(t, name), "yes", "{t}");
    }
    assert_eq!(result(t, "in-kernel irqchip + PIT"), "yes: 10 ticks at 100 Hz");
    assert_eq!(result(t, "single-step"), "yes: a KVM_EXIT_DEBUG per instruction");
    assert_eq!(result(t, "KVM_CAP_IMMEDIATE_EXIT"), "yes");
    assert!(t.ends_with("mini-kvm's guests: all of them can run here.\n"));
    // The header names the kind the keys report.
    let host = host();
    assert!(t.contains(&format!("\nkind of KVM: {}\n", host.key("name"))), "{t}");

    if host.paravirtual() {
        assert_eq!(result(t, "32-bit paging"), "no: CR0 0x80000011 read back 0x11", "{t}");
        assert!(row(t, "32-bit paging").contains("PG dropped"), "{t}");
        assert_eq!(result(t, "int n from ring 3"), "arrives as #UD at the int instruction");
        assert!(row(t, "int n in 32-bit ring 0").starts_with("-- "), "{t}");
        assert_eq!(result(t, "ring-3 and ring-0 code"), "ring 3 native, ring 0 emulated");
        assert_eq!(result(t, "single-step in ring 3"), "no exits from native ring-3 code");
        assert_eq!(result(t, "RIP at KVM_EXIT_IO"), "out: after the insn, in: at it");
    } else {
        assert_eq!(result(t, "32-bit paging"), "yes", "{t}");
        assert_eq!(result(t, "int n from ring 3"), "delivered through the IDT gate");
        assert_eq!(result(t, "int n in 32-bit ring 0"), "yes", "{t}");
        assert!(!t.contains("single-step in ring 3"), "{t}");
        assert_eq!(result(t, "RIP at KVM_EXIT_IO"), "out: at the insn, in: at it");
    }
    // Rows that hold on every KVM measured so far (paravirtual, nested kvm_amd); a KVM that
    // reports int3 would make this row "yes" and gdb would patch breakpoints there.
    let sw = result(t, "software breakpoints");
    assert_eq!(sw == "yes: int3 reaches the debugger", host.is("sw-breakpoints", "yes"), "{t}");
}

#[test]
fn the_keys_are_a_fixed_vocabulary() {
    let r = run_with(&["--host-check=keys"], b"", &[], std::time::Duration::from_secs(60));
    assert_eq!(r.status, 0, "{}", r.stderr);
    let keys: Vec<&str> = r.stdout.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        keys,
        [
            "kind",
            "name",
            "real-mode",
            "protected-mode",
            "paging32",
            "long-mode",
            "irqchip",
            "int-ring3",
            "int-pm32",
            "ring3-code",
            "ring0-code",
            "single-step",
            "single-step-ring3",
            "sw-breakpoints",
            "io-out-rip",
            "io-in-rip",
            "shutdown-regs",
            "sync-regs",
            "immediate-exit",
            "coalesced-pio",
            "ioeventfd",
            "irqfd",
            "hw-breakpoints",
            "ap-start",
            "seccomp",
            "linux-boot",
        ]
    );
    let host = host();
    // The two signatures of a paravirtual KVM come together.
    assert_eq!(host.paravirtual(), host.is("paging32", "no"));
    assert_eq!(host.paravirtual(), host.is("int-ring3", "ud"));
    assert!(!r.stdout.chars().any(|c| c == '.'), "no measurements: {}", r.stdout);
}

#[test]
fn host_check_without_kvm_exits_4() {
    let r =
        run_with(&["--host-check"], b"", &[("MINI_KVM_DEVICE", "/nonexistent/kvm")], HANG_GUARD);
    assert_eq!(r.status, 4);
    assert_one_line(&r, &["/nonexistent/kvm does not exist"]);
    let r = run(&["--host-check=wrong"]);
    assert_eq!(r.status, 2);
    assert_one_line(&r, &["--host-check= takes table or keys, not 'wrong'"]);
}
