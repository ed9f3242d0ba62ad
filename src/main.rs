//! mini-kvm: an educational x86 hypervisor written directly on the Linux KVM API.
//!
//! `main` reads the command line, chooses how the guests boot and which layers the run needs,
//! has the machine built and run (machine.rs), and turns how it ended into an exit status.
//! The core, what `mini-kvm hello` runs, is this file and the ones docs/reading-order.md
//! lists; every other file is a layer that `main` installs when a run asks for it.
#![deny(clippy::undocumented_unsafe_blocks)]

mod boot;
mod cli;
mod coalesce;
mod confine;
mod console;
mod devices;
mod error;
mod exit_address;
mod explain;
mod fault;
mod gdb;
mod guests;
mod help;
mod hostcheck;
mod kvm;
mod machine;
mod memory;
mod smp;
mod stats;
#[cfg(test)]
mod test_rng;
mod trace;
mod vcpu;
mod virtio;
mod x86;

use cli::{Command, Config};
use console::{message, note};
use error::{status, Ending};
use exit_address::IoRipRule;
use machine::{Boot, Layer, Stops};
use vcpu::Later;

fn main() {
    let utf8 = |a: std::ffi::OsString| {
        a.into_string().map_err(|bad| Ending::Usage(format!("argument {bad:?} is not valid UTF-8")))
    };
    let code = match std::env::args_os().skip(1).map(utf8).collect::<Result<Vec<_>, Ending>>() {
        Ok(args) => {
            standard_fds_open().and_then(|()| cli::parse(&args)).map_or_else(refused, command)
        }
        Err(e) => refused(e),
    };
    console::restore_terminal();
    std::process::exit(code);
}

/// A command line or setup that stops before any guest runs.
fn refused(ending: Ending) -> i32 {
    match &ending {
        Ending::Usage(text) => {
            message(&format!("mini-kvm: {text} ({}; see mini-kvm --help)", cli::USAGE))
        }
        other => message(&format!("mini-kvm: {other}")),
    }
    ending.status()
}

/// A closed stdin, stdout or stderr would be reused by the next open(2) (/dev/kvm or a guest
/// image would become "stdout"), so Rust's runtime opens /dev/null read-write on each closed
/// one before `main`. Input that has ended and messages nobody wants are fine; a stdout that
/// was closed is refused, as a full one is: the guest's output would be lost. (A shell's
/// `>/dev/null` opens it write-only: a read-write /dev/null on fd 1 is the runtime's.)
fn standard_fds_open() -> Result<(), Ending> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = fcntl(std::io::stdout(), FcntlArg::F_GETFL).map(OFlag::from_bits_truncate);
    let read_write = flags.is_ok_and(|f| f & OFlag::O_ACCMODE == OFlag::O_RDWR);
    match std::fs::read_link("/proc/self/fd/1") {
        Ok(null) if read_write && null == std::path::Path::new("/dev/null") => Err(Ending::Host(
            "stdout is closed: the guest's output would be lost (give mini-kvm a stdout, e.g. >/dev/null)".into(),
        )),
        _ => Ok(()),
    }
}

fn command(command: Command) -> i32 {
    let said = match command {
        Command::Help => help::say(help::HELP),
        Command::Version => help::say(concat!("mini-kvm ", env!("CARGO_PKG_VERSION"), "\n")),
        Command::List => help::say(&help::list()),
        Command::HostCheck(format) => {
            return match hostcheck::run(format.as_deref()) {
                Ok((text, code)) => help::say(&text).map_or_else(refused, |()| code),
                Err(e) => refused(e),
            }
        }
        Command::Run(config) => return run(config),
    };
    said.map_or_else(refused, |()| status::OK)
}

/// A run: its boot, its layers, the machine, and the exit status of how it ended.
fn run(config: Config) -> i32 {
    console::set_verbose(config.verbose);
    let stops = match Stops::watch(config.timeout) {
        Ok(stops) => stops,
        Err(e) => return refused(e),
    };
    let io_rip = (config.flag("--trace") || config.flag("--gdb")).then(hostcheck::io_rip_rule);
    let outcome = choose_boot(&config, &stops)
        .and_then(|boot| Ok((layers(&config, &*boot, io_rip)?, boot)))
        .and_then(|((layers, later), boot)| machine::run(&config, boot, layers, later, &stops));
    match outcome {
        Ok(outcome) => report(&config, outcome, io_rip),
        Err(stopped @ Ending::Stopped(_)) => {
            console::set_deadline(std::time::Instant::now() + machine::STOP_BUDGET);
            refused(stopped)
        }
        Err(e) => refused(e),
    }
}

// [tour:layers]
/// The layers a run installs, and the one that may attach itself later.
type Layers = (Vec<Box<dyn Layer>>, Option<Later>);

/// The layers this run asks for, in the order their hooks run, and coalescing, which attaches
/// itself to a one-vCPU VM once its guest has written COM1's THR enough for it to pay.
fn layers(config: &Config, boot: &dyn Boot, io_rip: Option<IoRipRule>) -> Result<Layers, Ending> {
    let mut layers: Vec<Box<dyn Layer>> = Vec::new();
    if config.flag("--trace") {
        layers.push(Box::new(trace::Trace::new(config.value("--trace"), io_rip)?));
    }
    if config.flag("--stats") || config.verbose {
        layers.push(Box::new(stats::StatsLayer { table: config.flag("--stats") }));
    }
    if config.verbose {
        layers.push(Box::new(fault::ring::RecentExits));
    }
    if config.flag("--disk") || config.guests == ["os-1k"] {
        layers.extend(virtio::disk::Disk::asked(config)?.map(|d| Box::new(d) as Box<dyn Layer>));
    }
    match config.flag("--no-seccomp") {
        true => note(|| "seccomp: off (--no-seccomp)".into()),
        false => layers.push(Box::new(confine::Confine)),
    }
    if config.flag("--gdb") {
        layers.push(Box::new(gdb::Gdb::new(config)?)); // its thread starts under the filter
    }
    let coalesce =
        boot.names().len() == 1 && !config.flag("--gdb") && !config.flag("--no-coalesce");
    let later = coalesce.then_some(Later {
        port: devices::uart::COM1_BASE,
        after: coalesce::AFTER,
        attach: Box::new(coalesce::attach),
    });
    Ok((layers, later))
}
// [/tour:layers]

/// The core boots built-in real-mode guests itself; anything else (a file, whose kind its
/// contents tell, a kernel, `--linux`, a CPU mode option) goes to the boot layer.
fn choose_boot(config: &Config, stops: &Stops) -> Result<Box<dyn Boot>, Ending> {
    let real = |name: &String| guests::builtin(name).filter(|g| g.kind == guests::Kind::Real);
    match config.guests.iter().map(real).collect::<Option<Vec<_>>>() {
        Some(builtins) if !config.given.iter().any(|(name, _)| BOOT_OPTIONS.contains(name)) => Ok(
            Box::new(boot::realmode::RealMode::new(builtins.iter().map(|g| g.image()).collect())?),
        ),
        _ => boot::choose(config, stops),
    }
}

/// The options that choose a boot protocol (boot/mod.rs).
#[rustfmt::skip]
const BOOT_OPTIONS: [&str; 9] = ["--mem", "--cmdline", "--module", "--cpus", "--long-mode",
    "--paging", "--entry", "--load", "--linux"];

/// Prints how each vCPU ended and returns the run's exit status: a stop from outside, else the
/// first vCPU fault or host failure, else the first guest's own non-zero status, else 0.
fn report(config: &Config, outcome: machine::Outcome, io_rip: Option<IoRipRule>) -> i32 {
    let mut by_index: Vec<&vcpu::Report> = outcome.reports.iter().collect();
    by_index.sort_by_key(|r| r.index);
    for r in &by_index {
        let who = format!("vCPU {} ({})", r.index, r.name);
        match &r.ending {
            Ending::Fault(f) => {
                fault::report(&who, f, r.vcpu.as_ref(), &outcome.memory, config.verbose, io_rip)
            }
            Ending::Host(why) => message(&format!("mini-kvm: error: {who}: {why}")),
            Ending::Exit(s) => note(|| format!("{who} exited with status {s}")),
            Ending::Halted => note(|| format!("{who} stopped normally")),
            Ending::Off(why) => note(|| format!("{who}: {why}")),
            _ => note(|| format!("{who} was stopped")),
        }
        r.lines.iter().for_each(|line| message(line));
    }
    outcome.lines.iter().for_each(|line| message(line));
    if let Some(stop) = outcome.cause {
        message(&format!("mini-kvm: {stop}"));
        return Ending::Stopped(stop).status();
    }
    let failed =
        outcome.reports.iter().find(|r| matches!(r.ending, Ending::Fault(_) | Ending::Host(_)));
    if let Some(r) = failed {
        return r.ending.status();
    }
    let chosen = by_index.iter().find_map(|r| match r.ending {
        Ending::Exit(s) if s != 0 => Some((r, s)),
        _ => None,
    });
    let Some((r, s)) = chosen else { return status::OK };
    if [1, 2, 3, 4, 5, 124, 130].contains(&i32::from(s)) {
        let who = format!("vCPU {} ({})", r.index, r.name);
        message(&format!("mini-kvm: {who} chose exit status {s} itself (EXIT_STATUS): it comes from the guest, not from mini-kvm"));
    }
    i32::from(s)
}
