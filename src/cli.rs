//! The command line, parsed by hand: `mini-kvm [OPTIONS] GUEST...`.
//!
//! Options may come before or after guests, as `--opt VALUE` or `--opt=VALUE`; `--` ends them.
//! Every option is one row of [`options::OPTIONS`]: its names, the value it takes, the runs it
//! belongs to and its help text. Parsing and `--help` are both read from that table, so an
//! option cannot be parsed without being documented, nor documented with a value it does not
//! take. Parsing is a pure function from the argument list to a [`Command`], so every rule
//! below is unit-tested without running anything.

mod help;
mod options;
mod values;

pub use help::help;
#[cfg(test)]
use values::{parse_number, parse_size};

use crate::boot::Mode;
use crate::console::ColorChoice;
use crate::hostcheck::Format;
use crate::machine::Config;
use options::{Opt, Takes};

/// At most this many guests (one vCPU each), as in the seed.
pub const MAX_GUESTS: usize = 4;

pub const USAGE: &str = "usage: mini-kvm [OPTIONS] GUEST...";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Help,
    Version,
    List,
    /// `--host-check`: find out what this host's KVM can do.
    HostCheck(Format),
    Run(Config),
}

/// A usage error (exit status 2): the message says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The options read so far.
struct Parsed {
    run: Config,
    /// `--long-mode`, `--paging`, `--entry`, `--load`: they become `run.mode` once every
    /// option is read, as they may come in any order (and the first two are exclusive).
    long_mode: bool,
    paging: bool,
    entry: u64,
    load: u64,
    /// `--list`, `--host-check`: commands, which win over a run once every option is read.
    list: bool,
    host_check: Option<Format>,
    /// Set by `--help` and `--version`: stop reading and do this.
    stop: Option<Command>,
}

impl Default for Parsed {
    fn default() -> Self {
        Parsed {
            run: Config {
                guests: Vec::new(),
                verbose: false,
                stats: false,
                timeout: None,
                color: ColorChoice::Auto,
                mode: Mode::Auto,
                mem: None,
                cmdline: None,
                modules: Vec::new(),
                trace: None,
                linux: None,
                initrd: None,
                linux_entry32: false,
                gdb: None,
                seccomp: true,
                coalesce: true,
            },
            long_mode: false,
            paging: false,
            entry: 0x8000_1000,
            load: 0x1000,
            list: false,
            host_check: None,
            stop: None,
        }
    }
}

impl Parsed {
    /// The CPU mode the seed's options ask for.
    fn mode(&self) -> Result<Mode, UsageError> {
        Ok(match (self.long_mode, self.paging) {
            (true, true) => {
                return Err(UsageError(
                    "--long-mode and --paging are different CPU modes: choose one".into(),
                ))
            }
            (true, false) => Mode::Long,
            (false, true) => Mode::Paging {
                entry: self.entry,
                load: self.load,
            },
            (false, false) => Mode::Auto,
        })
    }
}

/// Reads the arguments in order; `--help` and `--version` answer at once, ignoring the rest,
/// while every other option is first read to the end and then checked as a whole.
pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    let mut parsed = Parsed::default();
    let mut given: Vec<&'static Opt> = Vec::new();
    let mut rest = args.iter();
    let mut only_guests = false;
    while let Some(arg) = rest.next() {
        if only_guests || !arg.starts_with('-') || arg == "-" {
            parsed.run.guests.push(arg.clone());
            continue;
        }
        if arg == "--" {
            only_guests = true;
            continue;
        }
        // `--name=value` or `--name value`; a short option has no `=` form.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (arg.as_str(), None),
        };
        let opt =
            options::find(name).ok_or_else(|| UsageError(format!("unknown option '{arg}'")))?;
        read_value(opt, name, inline, &mut rest, &mut parsed)?;
        if let Some(command) = parsed.stop.take() {
            return Ok(command);
        }
        given.push(opt);
    }
    finish(parsed, &given)
}

/// Gives option `opt`, spelt `name`, its value: the `inline` one of `--name=VALUE`, else for an
/// option that needs one the next argument.
fn read_value<'a>(
    opt: &Opt,
    name: &str,
    inline: Option<&'a str>,
    rest: &mut impl Iterator<Item = &'a String>,
    parsed: &mut Parsed,
) -> Result<(), UsageError> {
    match (&opt.takes, inline) {
        (Takes::Nothing(_), Some(value)) => Err(UsageError(format!(
            "{name} takes no value: give {name} alone, not {name}={value}"
        ))),
        (Takes::Nothing(set), None) => {
            set(parsed);
            Ok(())
        }
        (Takes::Value { set, .. }, Some(value)) => set(parsed, value),
        (Takes::Value { needs, set, .. }, None) => match rest.next() {
            Some(value) => set(parsed, value),
            None => Err(UsageError(format!("{name} needs {needs}"))),
        },
        (Takes::Optional { set, .. }, value) => set(parsed, value),
    }
}

/// The rules between options, once all are read: which command, which CPU mode, and whether
/// each option given belongs to this kind of run.
fn finish(mut parsed: Parsed, given: &[&'static Opt]) -> Result<Command, UsageError> {
    if parsed.list {
        return Ok(Command::List);
    }
    if let Some(format) = parsed.host_check {
        return Ok(Command::HostCheck(format));
    }
    parsed.run.mode = parsed.mode()?;
    let linux = parsed.run.linux.is_some();
    let paging = matches!(parsed.run.mode, Mode::Paging { .. });
    for opt in given {
        opt.scope.check(opt.long, linux, paging)?;
    }
    let opts = parsed.run;
    if linux {
        if !opts.guests.is_empty() {
            return Err(UsageError(format!(
                "{} guest files (give the kernel as --linux BZIMAGE, alone)",
                options::LINUX_TAKES_NO
            )));
        }
        return Ok(Command::Run(opts));
    }
    if opts.guests.is_empty() {
        return Err(UsageError(
            "no guest given (try mini-kvm hello, or --list)".into(),
        ));
    }
    if opts.guests.len() > MAX_GUESTS {
        return Err(UsageError(format!(
            "{} guests given; mini-kvm runs at most {MAX_GUESTS} (one vCPU each)",
            opts.guests.len()
        )));
    }
    Ok(Command::Run(opts))
}

#[cfg(test)]
mod tests;
