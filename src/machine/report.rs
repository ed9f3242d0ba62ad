//! How a run ended, told once: a line per vCPU that faulted or failed, `--stats` tables, the
//! reason a run was stopped from outside, and the one exit status the process returns (the
//! table in the README's "Exit status"; `crate::error::status` names them).

use super::control::StopCause;
use super::note;
use super::Config;
use crate::devices::Accesses;
use crate::error::status;
use crate::fault::{explanation, location, recent_exits, register_dump};
use crate::vcpu::{VcpuOutcome, VcpuReport};
use nix::sys::signal::Signal;
use std::time::Duration;

/// The process exit status: the first early stop wins; otherwise the first non-zero status a
/// guest asked for; otherwise 0.
pub fn final_status(first_cause: Option<StopCause>, first_guest_status: Option<u8>) -> i32 {
    match first_cause {
        Some(StopCause::Fault) => status::GUEST_FAULT,
        Some(StopCause::HostError) => status::HOST_FAILURE,
        Some(StopCause::Timeout) => status::TIMEOUT,
        Some(StopCause::Signal(_) | StopCause::Quit | StopCause::Killed) => status::INTERRUPTED,
        None => first_guest_status.map_or(status::OK, i32::from),
    }
}

/// `--stats`/`-v`: what a vCPU touched that nothing answers (ports an OS probes, MMIO holes).
fn report_unclaimed(who: &str, r: &VcpuReport) {
    for (port, Accesses { reads, writes }) in &r.unclaimed_ports {
        let name = match crate::devices::unclaimed_port_name(*port) {
            "unknown" => String::new(),
            name => format!(" ({name})"),
        };
        diag!(
            "mini-kvm: {who}: unclaimed port {port:#06x}{name}: {reads} reads (all ones), \
             {writes} writes (ignored)"
        );
    }
    let Accesses { reads, writes } = r.unclaimed_mmio;
    if reads + writes > 0 {
        diag!(
            "mini-kvm: {who}: MMIO with no memory behind it: {reads} reads (all ones), \
             {writes} writes (dropped)"
        );
    }
}

/// Prints what happened on stderr and returns the exit status.
pub fn report(opts: &Config, cause: Option<StopCause>, reports: &[VcpuReport]) -> i32 {
    let mut first_status = None;
    for r in reports {
        let who = format!("vCPU {} ({})", r.index, r.name);
        match &r.outcome {
            VcpuOutcome::Fault(fault) => {
                let place = match (&fault.regs, &fault.sregs) {
                    (Some(regs), Some(sregs)) => format!(" at {}", location(regs, sregs)),
                    _ => String::new(),
                };
                diag!("mini-kvm: guest fault on {who}: {}{place}", fault.reason);
                for line in explanation(fault) {
                    diag!("{line}");
                }
                if let (true, Some(regs), Some(sregs)) = (opts.verbose, &fault.regs, &fault.sregs) {
                    diag!("{}", register_dump(regs, sregs));
                }
                if opts.verbose {
                    diag!("{}", recent_exits(fault));
                }
            }
            VcpuOutcome::HostError(why) => diag!("mini-kvm: error: {who}: {why}"),
            VcpuOutcome::Exited(s) => {
                first_status.get_or_insert((who.clone(), *s));
                note(|| format!("{who} exited with status {s}"));
            }
            VcpuOutcome::Halted => note(|| format!("{who} stopped normally")),
            VcpuOutcome::Stopped => note(|| format!("{who} was stopped")),
            VcpuOutcome::MachineOff(why) => note(|| format!("{who}: {why}")),
        }
        note(|| format!("{who}: {}", r.stats.summary()));
        if opts.verbose || opts.stats {
            report_unclaimed(&who, r);
        }
        if opts.stats {
            diag!(
                "{}",
                r.stats.table(&format!("mini-kvm stats: {who}")).trim_end()
            );
        }
    }
    if let Some(message) = stop_message(cause, opts.timeout) {
        diag!("{message}");
    }
    if let (None, Some((who, s))) = (cause, &first_status) {
        if COLLIDING_STATUSES.contains(&i32::from(*s)) {
            diag!(
                "mini-kvm: {who} chose exit status {s} itself (EXIT_STATUS): it comes from the \
                 guest, not from mini-kvm"
            );
        }
    }
    final_status(cause, first_status.map(|(_, s)| s))
}

/// The statuses mini-kvm itself uses; a guest choosing one gets a line saying it was the guest.
pub const COLLIDING_STATUSES: [i32; 7] = [1, 2, 3, 4, 5, 124, 130];

/// The line for a run stopped from outside, if it was.
pub fn stop_message(cause: Option<StopCause>, timeout: Option<Duration>) -> Option<String> {
    Some(match cause? {
        StopCause::Timeout => {
            let secs = timeout.map_or(0.0, |t| t.as_secs_f64());
            format!("mini-kvm: timeout: stopped the guest after {secs} s (--timeout)")
        }
        StopCause::Signal(s) => {
            let name = Signal::try_from(s).map_or("a signal", |s| s.as_str());
            format!("mini-kvm: stopped by {name}")
        }
        StopCause::Quit => "mini-kvm: stopped by Ctrl-A x".into(),
        StopCause::Killed => "mini-kvm: stopped by gdb (kill)".into(),
        StopCause::Fault | StopCause::HostError => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_early_stop_wins_over_guest_statuses() {
        assert_eq!(final_status(None, None), 0);
        assert_eq!(final_status(None, Some(7)), 7);
        assert_eq!(final_status(Some(StopCause::Fault), Some(7)), 5);
        assert_eq!(final_status(Some(StopCause::HostError), None), 1);
        assert_eq!(final_status(Some(StopCause::Timeout), Some(3)), 124);
        assert_eq!(final_status(Some(StopCause::Signal(2)), None), 130);
        assert_eq!(final_status(Some(StopCause::Quit), None), 130);
    }
}
