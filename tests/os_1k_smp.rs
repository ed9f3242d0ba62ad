//! The 1K OS on two CPUs: under `mini-kvm --cpus 2`, and under QEMU (TCG), whose firmware gives
//! the MP table and BIOS data area a PC's does, as a check that the kernel needs nothing of
//! mini-kvm's own: the CPUs found and started, both running processes, a counter both increment
//! under a lock; and on one CPU (no MP table), the same programs.
//!
//! QEMU's `-smp sockets=2`: its firmware (SeaBIOS) lists one processor per package in the MP
//! table, and a plain `-smp 2` is one package of two cores, which the table shows as one CPU.

mod common;
use common::*;
use std::time::Duration;

/// `locks count N`'s line: (what each CPU added, the counter), checked for its form.
fn counted(answer: &str) -> (Vec<u64>, u64) {
    let line = answer.lines().find(|l| l.starts_with("locks: CPU 0 added ")).unwrap_or("");
    let (adds, counter) = line
        .strip_prefix("locks:")
        .and_then(|l| l.split_once("; the counter is "))
        .unwrap_or_else(|| panic!("no count in:\n{answer}"));
    let adds: Vec<u64> = adds
        .split(',')
        .enumerate()
        .map(|(cpu, a)| {
            let n =
                a.trim().strip_prefix(&format!("CPU {cpu} added ")).and_then(|n| n.parse().ok());
            n.unwrap_or_else(|| panic!("CPU {cpu}'s count in {line:?}"))
        })
        .collect();
    let counter = counter.split(':').next().and_then(|n| n.parse().ok()).unwrap_or(u64::MAX);
    (adds, counter)
}

/// The CPUs that `ps` shows running something, idle processes aside.
fn busy_cpus(ps: &str) -> Vec<u32> {
    let mut cpus: Vec<u32> = ps
        .lines()
        .skip(1)
        .filter(|l| l.contains(" running ") && !l.ends_with(" idle"))
        .filter_map(|l| l.split_whitespace().nth(3).and_then(|c| c.parse().ok()))
        .collect();
    cpus.sort();
    cpus.dedup();
    cpus
}

#[test]
fn two_vcpus_start_run_processes_at_once_and_count_exactly() {
    if host().is("ap-start", "no") {
        return assert_eq!(run(&["--cpus", "2", "os-1k"]).status, 4);
    }
    two_cpus(Interactive::start(&["--timeout", "120", "--cpus", "2", "os-1k"], "\n$ "));
}

#[test]
#[ignore = "needs qemu-system-x86_64: `make test` installs it and runs this (or: cargo test -- --include-ignored)"]
fn two_cpus_under_qemu_start_run_processes_at_once_and_count_exactly() {
    two_cpus(Interactive::qemu("sockets=2"));
}

/// The 1K OS on a machine of two CPUs, from its first prompt.
fn two_cpus(mut s: Interactive) {
    let boot = s.command("about");
    for line in [
        "MP table at 0x",
        "Created idle processes (pid=0), one for each of the 2 CPUs\n",
        "Timer: each CPU's LAPIC timer at 100 Hz, ",
        "CPU 1 (LAPIC ID 1): INIT, SIPI, SIPI to the trampoline at 0x7000: started\n",
        "  - Serial: IRQ 4 -> IOAPIC -> vector 0x24 on CPU 0",
        "  - runs them on 2 CPUs, from one run queue\n",
    ] {
        assert!(s.seen().contains(line), "{line:?} in:\n{}", s.seen());
    }
    assert!(boot.contains("=== About 1K OS ==="), "{boot}");
    // Two programs that never make a system call: while they run, ps (on one CPU) sees one of
    // them running on the other. ps runs again until it has, a bounded number of times: the
    // second CPU takes a process at its next tick, within 10 ms of the guest's time.
    let jobs: Vec<String> = (0..2)
        .map(|_| s.command("work 100000 &"))
        .map(|job| job.strip_suffix(" work 100000\n").unwrap_or_else(|| panic!("{job}")).into())
        .collect();
    let both = (0..200).map(|_| s.command("ps")).find(|ps| busy_cpus(ps) == [0, 1]);
    assert!(both.is_some(), "never one process on each CPU:\n{}", s.seen());
    let pids: Vec<&str> = jobs.iter().map(|j| j.trim_matches(['[', ']'])).collect();
    let killed = s.command(&format!("kill {}; kill {}; wait", pids[0], pids[1]));
    for job in &jobs {
        assert!(killed.contains(&format!("{job} killed\n")), "{killed}");
    }
    // The counter both CPUs increment under the lock: every increment counted, from both.
    let (adds, counter) = counted(&s.command("locks count 2000"));
    assert!(adds.len() == 2 && adds.iter().all(|&a| a > 0), "{adds:?}");
    assert_eq!(counter, adds.iter().sum::<u64>(), "increments lost: {adds:?}, {counter}");
    assert!(adds.iter().sum::<u64>() >= 4000, "{adds:?}");
    // The same work on two CPUs at once gives the same result.
    let done = s.command("work 20 & work 20; wait");
    let result = "work: 20 million steps done (bb25f54535aed9f2)\n";
    assert_eq!(done.matches(result).count(), 2, "{done}");
    s.send("0\n");
    let out = s.finish();
    assert!(out.ends_with("Thank you for using 1K OS!\n"), "{out}");
}

#[test]
fn one_cpu_without_an_mp_table_runs_the_same_programs() {
    let input = "9\nlocks count 500\nlocks nest\nwork 5 & work 5; wait\n0\n";
    let r = run_with(&["os-1k"], input.as_bytes(), &[], Duration::from_secs(60));
    assert_eq!(r.status, 0, "{}", r.stderr);
    let out = r.stdout;
    assert!(!out.contains("MP table") && out.contains("Timer: PIT channel 0 at 100 Hz\n"), "{out}");
    assert!(out.contains("  - runs them on 1 CPU, from one run queue\n"), "{out}");
    assert!(out.contains("\nlocks: CPU 0 added 1000; the counter is 1000: none lost\n"), "{out}");
    assert!(out.contains(
        "\nlocks: interrupts off under one lock: yes, under two: yes, after the inner release: \
         yes; on again after the outer: yes\n"
    ));
    assert_eq!(out.matches("work: 5 million steps done (").count(), 2, "{out}");
}
