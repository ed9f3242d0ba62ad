//! `--cpus N`: one kernel on several vCPUs. The real binary runs `smp_start` (a Multiboot
//! kernel in tests/guests/ that finds its CPUs in the MP table mini-kvm writes, starts each
//! with INIT and STARTUP IPIs through its local APIC, and ends as its command line says), and
//! every run's whole output and exit status are compared. A KVM that cannot start a second vCPU
//! (`--host-check=keys`: `ap-start no`) must refuse `--cpus` above 1 with status 4 instead.

mod common;
use common::*;

/// What `smp_start` prints for `n` CPUs before it ends: the MP table, then each CPU as it
/// comes up, in order (the boot CPU starts the next only once the last has said so).
fn started(n: u32) -> String {
    let mut text = String::from("cpu 0 bsp\n");
    (1..n).for_each(|i| text.push_str(&format!("cpu {i}\n")));
    text.push_str(&format!("ioapic {n} at 0xfec00000\n"));
    (1..n).for_each(|i| text.push_str(&format!("ap {i} up\n")));
    text
}

/// Runs `smp_start` with `args` before it; `None` where this KVM cannot start a second vCPU
/// (after checking that it says so, in one line, with status 4).
fn smp(args: &[&str]) -> Option<Run> {
    let guest = test_guest("smp_start");
    let mut all: Vec<&str> = vec!["--timeout", "60"];
    all.extend_from_slice(args);
    all.push(&guest);
    let r = run(&all);
    if host().is("ap-start", "no") {
        assert_eq!(r.status, 4, "{r:?}");
        assert_one_line(&r, &["does not start a second vCPU", "--cpus 1"]);
        return None;
    }
    Some(r)
}

#[test]
fn every_cpu_of_the_mp_table_starts_and_says_so() {
    for n in [2, 4, 8] {
        let Some(r) = smp(&["--cpus", &n.to_string()]) else { return };
        assert_eq!((r.status, r.stdout.as_str(), r.stderr.as_str()), (0, started(n).as_str(), ""));
    }
}

#[test]
fn cpus_1_gets_a_table_of_one_and_no_cpus_option_gets_none() {
    // --cpus 1: the BIOS data area's words and an MP table with one processor.
    let guest = test_guest("smp_start");
    let r = run(&["--cpus", "1", &guest]);
    assert_eq!((r.status, r.stdout.as_str(), r.stderr.as_str()), (0, started(1).as_str(), ""));
    // Without --cpus a kernel gets neither: the words read 0, so the EBDA is at address 0.
    let r = run(&[&guest]);
    assert_eq!((r.status, r.stdout.as_str()), (1, "no MP table\n"));
}

#[test]
fn an_exit_from_any_cpu_ends_the_whole_run_with_its_status() {
    let Some(r) = smp(&["--cpus", "3", "--cmdline", "ap-exit"]) else { return };
    assert_eq!((r.status, r.stdout.as_str(), r.stderr.as_str()), (7, started(3).as_str(), ""));
}

#[test]
fn every_cpu_halted_with_interrupts_off_is_a_machine_switched_off() {
    let Some(r) = smp(&["--cpus", "4", "--cmdline", "halt"]) else { return };
    assert_eq!((r.status, r.stdout.as_str(), r.stderr.as_str()), (0, started(4).as_str(), ""));
}

#[test]
fn a_cpu_halted_for_good_does_not_end_a_run_another_cpu_still_runs() {
    // The others halt with interrupts off at once; the boot CPU runs on for a second of PIT
    // time (several of mini-kvm's halt checks), then ends with status 3 itself.
    let Some(r) = smp(&["--cpus", "2", "--cmdline", "one-halts"]) else { return };
    assert_eq!(r.status, 3, "{r:?}");
    assert_eq!(r.stdout, started(2) + "bsp done\n");
}

#[test]
fn cpus_that_can_never_run_again_are_a_hung_guest_that_timeout_ends() {
    // The other CPUs wait for a STARTUP that never comes, the boot CPU halts: a guest that
    // parks every CPU this way hangs, as on hardware, and --timeout ends it.
    let guest = test_guest("smp_start");
    // The bound leaves the guest ample time to print all it prints, even on a loaded host.
    let r = run(&["--timeout", "3", "--cpus", "3", "--cmdline", "park-all", &guest]);
    if host().is("ap-start", "no") {
        assert_eq!(r.status, 4);
        return;
    }
    assert_eq!((r.status, r.stdout.as_str()), (124, started(3).as_str()));
    assert_one_line(&r, &["timeout: stopped the guest after 3 s"]);
}

#[test]
fn a_signal_stops_every_cpu_even_those_waiting_to_be_started() {
    use nix::sys::signal::{kill, Signal};
    use nix::unistd::Pid;
    use std::io::Read as _;
    if host().is("ap-start", "no") {
        return assert_eq!(run(&["--cpus", "2", &test_guest("smp_start")]).status, 4);
    }
    let guest = test_guest("smp_start");
    let mut child = std::process::Command::new(MINI_KVM)
        .args(["--timeout", "60", "--cpus", "3", "--cmdline", "park-all", &guest])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("mini-kvm starts");
    // Once the last CPU has said it is up, the boot CPU sends every other one INIT again
    // and halts: the signal finds them waiting inside KVM.
    let (mut out, mut err) =
        (child.stdout.take().expect("piped"), child.stderr.take().expect("piped"));
    let mut seen = String::new();
    read_until(&mut out, &mut seen, "ap 2 up\n");
    kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM).expect("kill works");
    let mut stderr = String::new();
    err.read_to_string(&mut stderr).expect("stderr");
    let status = child.wait().expect("mini-kvm ends");
    assert_eq!((status.code(), stderr.as_str()), (Some(130), "mini-kvm: stopped by SIGTERM\n"));
}

#[test]
fn bad_cpu_counts_and_places_are_usage_errors() {
    for bad in ["0", "9", "x", "-1"] {
        let r = run(&["--cpus", bad, "os-1k"]);
        assert_eq!(r.status, 2, "--cpus {bad}");
        assert_one_line(&r, &[&format!("--cpus takes 1 to 8 CPUs, not '{bad}'")]);
    }
    for args in [&["--cpus", "2", "hello"][..], &["--cpus", "2", "hello", "counter"]] {
        let r = run(args);
        assert_eq!(r.status, 2, "{args:?}");
        assert_one_line(&r, &["--cpus is for an OS kernel (Multiboot or --linux)"]);
    }
}
