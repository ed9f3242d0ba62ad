//! mini-kvm: an educational x86 hypervisor written directly on the Linux KVM API.
//!
//! The source is in layers, each using only those below it; README.md, "How it works", draws
//! them and gives the one reading order (bottom up: `kvm/` and `memory.rs` first, this file
//! last). Each file says what it teaches and where the reference is.

#![deny(clippy::undocumented_unsafe_blocks)]

/// `eprintln!` that never panics nor blocks: a closed stderr (say `2>&1 | head`) must not crash
/// a VMM, and one nobody reads must not hang it (console/errout.rs).
macro_rules! diag {
    ($($arg:tt)*) => {{
        crate::console::errout::message(&format!($($arg)*));
    }};
}

mod boot;
mod cli;
mod confine;
mod console;
mod devices;
mod error;
mod exit_address;
mod fault;
mod gdb;
mod guests;
mod hostcheck;
mod kvm;
mod log;
mod machine;
mod memory;
mod setup;
mod stats;
#[cfg(test)]
mod test_rng;
mod trace;
mod vcpu;
mod x86;

use cli::Command;
use error::status;

/// Writes informational output (--help, --list, --version) to stdout; a failed write (a full
/// disk, /dev/full, a closed pipe) is an error: status 1, not a silent 0.
fn say(text: &str) -> i32 {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        Ok(()) => status::OK,
        Err(e) => {
            diag!("mini-kvm: error: writing to stdout failed: {e}");
            status::HOST_FAILURE
        }
    }
}

fn list_guests() -> i32 {
    let mut text = String::from("Built-in guests (run with: mini-kvm NAME):\n");
    for g in guests::EMBEDDED {
        text.push_str(&format!("  {:<22} {}\n", g.name, g.description));
    }
    say(&text)
}

/// A run from start to end: SIGINT/SIGTERM/SIGHUP and --timeout are watched from before the
/// first file is opened.
fn run(opts: &machine::Config) -> i32 {
    log::set_verbose(opts.verbose);
    let signals = match machine::control::StopSignals::install(opts.timeout) {
        Ok(signals) => signals,
        Err(e) => {
            diag!("mini-kvm: error: watching for SIGINT/SIGTERM/SIGHUP: {e}");
            return status::HOST_FAILURE;
        }
    };
    match machine::run(opts, &signals) {
        Ok(code) => code,
        Err(error::Error::Stopped(cause)) => {
            // A stop during loading: the message and stderr's drain get the same budget as a
            // stop of a running guest (console/stop_budget.rs).
            console::stop_budget::start(std::time::Instant::now());
            if let Some(message) = machine::report::stop_message(Some(cause), opts.timeout) {
                diag!("{message}");
            }
            error::Error::Stopped(cause).exit_status()
        }
        Err(e) => {
            diag!("mini-kvm: error: {e}");
            e.exit_status()
        }
    }
}

/// Leaves the process: the terminal was restored on the way here; stderr gets a bounded time
/// to take mini-kvm's last messages (console/errout.rs), and a writer thread still stuck in
/// write(2) on a pipe nobody reads ends with the process.
fn exit(code: i32) -> ! {
    console::errout::drain();
    std::process::exit(code)
}

fn main() {
    let mut args = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.into_string() {
            Ok(a) => args.push(a),
            Err(bad) => {
                diag!("mini-kvm: argument {bad:?} is not valid UTF-8");
                exit(status::USAGE);
            }
        }
    }
    let code = match cli::parse(&args) {
        Ok(Command::Help) => say(&cli::help()),
        Ok(Command::Version) => say(concat!("mini-kvm ", env!("CARGO_PKG_VERSION"), "\n")),
        Ok(Command::List) => list_guests(),
        Ok(Command::HostCheck(format)) => hostcheck::run(format),
        Ok(Command::Run(opts)) => run(&opts),
        Err(usage) => {
            diag!("mini-kvm: {usage} ({}; see mini-kvm --help)", cli::USAGE);
            status::USAGE
        }
    };
    exit(code);
}
