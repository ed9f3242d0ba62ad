//! `--host-check` on the real /dev/kvm: the table, the status, and on this project's machines
//! (kvm_pvm, ../shared/seed/kvm-on-this-machine.md) the exact answers that document measured.

mod common;
use common::*;

fn row<'a>(table: &'a str, name: &str) -> &'a str {
    table
        .lines()
        .find(|l| l.get(3..).is_some_and(|rest| rest.starts_with(name)))
        .unwrap_or_else(|| panic!("no row {name:?} in:\n{table}"))
}

#[test]
fn host_check_prints_every_row_and_passes_here() {
    let r = run(&["--host-check"]);
    assert_eq!(r.status, 0, "{}{}", r.stdout, r.stderr);
    let t = &r.stdout;
    for name in [
        "real mode",
        "32-bit protected mode",
        "32-bit paging",
        "long mode",
        "in-kernel irqchip + PIT",
        "int n from ring 3",
        "ring-3 and ring-0 code",
        "single-step",
        "software breakpoints",
        "KVM_CAP_SYNC_REGS",
        "exit cost",
    ] {
        row(t, name);
    }
    assert!(row(t, "real mode").starts_with("ok"));
    assert!(row(t, "long mode").starts_with("ok"));
    assert!(row(t, "in-kernel irqchip + PIT").contains("10 ticks in"));
    assert!(t.ends_with("mini-kvm's guests: all of them can run here.\n"));

    // On kvm_pvm, the rows must say what the measurements say.
    if std::path::Path::new("/sys/module/kvm_pvm").exists() {
        assert!(row(t, "32-bit paging").contains("PG dropped"), "{t}");
        assert!(row(t, "int n from ring 3").contains("#UD"), "{t}");
        let speed = row(t, "ring-3 and ring-0 code");
        assert!(
            speed.contains("ring 3 native") && speed.contains("ring 0 emulated"),
            "{speed}"
        );
        assert!(row(t, "single-step").starts_with("ok"), "{t}");
        assert!(row(t, "software breakpoints").starts_with("--"), "{t}");
        assert!(row(t, "KVM_CAP_SYNC_REGS").contains("yes (0x7)"), "{t}");
        assert!(row(t, "vCPUs").contains("0 hardware breakpoints"), "{t}");
    }
}

#[test]
fn host_check_without_kvm_exits_4() {
    let r = run_with(
        &["--host-check"],
        b"",
        &[("MINI_KVM_DEVICE", "/nonexistent/kvm")],
        std::time::Duration::from_secs(20),
    );
    assert_eq!(r.status, 4);
    assert_one_line(&r, &["/nonexistent/kvm does not exist"]);
}
