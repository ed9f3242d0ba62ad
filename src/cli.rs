//! The command line: `mini-kvm [OPTIONS] GUEST...`, read against one table of options.
//!
//! Options may come before or after guests, as `--opt VALUE` or `--opt=VALUE`; `--` ends them.
//! An option that takes a value may be given once (`--module`, which adds a file each time,
//! excepted); an option that does not apply to the run is refused, not ignored. The core reads
//! the options it needs ([`Config`]'s fields); a layer reads and checks its own by name
//! ([`Config::value`]), when `main` installs it. The help text is help.rs's.

mod check;

use crate::error::Ending;
use std::time::Duration;

/// What an option takes.
#[derive(Clone, Copy, PartialEq)]
pub enum Takes {
    Nothing,
    /// A value: `--opt VALUE` or `--opt=VALUE`; the text says what it must be.
    Value(&'static str),
    /// Only as `--opt=VALUE`, or nothing.
    Optional,
    /// A value, and the option may repeat.
    Values(&'static str),
}

/// Where an option applies.
#[derive(Clone, Copy, PartialEq)]
pub enum Scope {
    /// Any command.
    Any,
    /// Only with `--linux` (the text completes "is for --linux kernels").
    Linux(&'static str),
    /// Not with `--linux` (the text completes "--linux ... takes no").
    NotLinux(&'static str),
    /// Only with `--paging`.
    Paging,
}

use Scope::*;
use Takes::*;

/// Every option: long name, other name, what it takes, where it applies.
#[rustfmt::skip]
pub const OPTIONS: &[(&str, &str, Takes, Scope)] = &[
    ("--help", "-h", Nothing, Any),
    ("--version", "-V", Nothing, Any),
    ("--list", "", Nothing, Any),
    ("--host-check", "", Optional, Any),
    ("--verbose", "-v", Nothing, Any),
    ("--stats", "", Nothing, Any),
    ("--trace", "", Optional, Any),
    ("--timeout", "", Value("a number of seconds"), Any),
    ("--color", "--colour", Value("auto, always or never"), Any),
    ("--mem", "", Value("a size such as 64M"), Any),
    ("--cpus", "", Value("a number of CPUs, 1 to 8"), Any),
    ("--cmdline", "", Value("the kernel command line"), Any),
    ("--linux", "", Value("a bzImage file"), Any),
    ("--disk", "", Value("FILE or FILE,ro"), Any),
    ("--initrd", "", Value("a file"), Linux(" (Multiboot kernels take --module)")),
    ("--linux-entry", "", Value("32 or 64"), Linux("")),
    ("--module", "", Values("a file"), NotLinux("--module (an initial RAM disk is given with --initrd)")),
    ("--gdb", "", Value("a TCP port"), NotLinux("--gdb (debug a kernel with QEMU's gdb stub for now)")),
    ("--no-seccomp", "", Nothing, Any),
    ("--no-coalesce", "", Nothing, Any),
    ("--long-mode", "", Nothing, NotLinux(CPU_MODE)),
    ("--paging", "", Nothing, NotLinux(CPU_MODE)),
    ("--entry", "", Value("an address"), Paging),
    ("--load", "", Value("an address"), Paging),
];
const CPU_MODE: &str = "--long-mode or --paging: the boot protocol sets the CPU mode";

pub const USAGE: &str = "usage: mini-kvm [OPTIONS] GUEST...";
/// Guests, one vCPU each, at most.
pub const MAX_GUESTS: usize = 4;

/// What the command line asks for.
pub enum Command {
    Help,
    Version,
    List,
    /// `--host-check`, with its `=VALUE` if given.
    HostCheck(Option<String>),
    Run(Config),
}

/// A run's options.
#[derive(Debug, Default)]
pub struct Config {
    pub guests: Vec<String>,
    /// Every option given, by long name, with its value.
    pub given: Vec<(&'static str, Option<String>)>,
    pub verbose: bool,
    pub timeout: Option<Duration>,
    /// `--color`: always (`Some(true)`), never, or auto (`None`).
    pub color: Option<bool>,
}

impl Config {
    /// Whether option `name` (a long name of [`OPTIONS`]) was given.
    pub fn flag(&self, name: &str) -> bool {
        self.given.iter().any(|(n, _)| *n == name)
    }

    /// The value of option `name`, if given.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.given.iter().find(|(n, _)| *n == name).and_then(|(_, v)| v.as_deref())
    }

    /// Every value of a repeatable option, in order.
    pub fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.given.iter().filter(move |(n, _)| *n == name).filter_map(|(_, v)| v.as_deref())
    }
}

pub(crate) fn usage(text: String) -> Ending {
    Ending::Usage(text)
}

/// Reads the command line.
pub fn parse(args: &[String]) -> Result<Command, Ending> {
    let mut config = Config::default();
    let mut args = args.iter();
    let (mut only_guests, mut scoped) = (false, false);
    while let Some(arg) = args.next() {
        if only_guests || !arg.starts_with('-') || arg == "-" {
            config.guests.push(arg.clone());
            continue;
        }
        if arg == "--" {
            only_guests = true;
            continue;
        }
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v)),
            _ => (arg.as_str(), None),
        };
        let Some(&(long, _, takes, scope)) = OPTIONS.iter().find(|o| o.0 == name || o.1 == name)
        else {
            return Err(usage(format!("unknown option '{arg}'")));
        };
        let value = match (takes, inline) {
            (Nothing, Some(v)) => {
                return Err(usage(format!(
                    "{name} takes no value: give {name} alone, not {name}={v}"
                )))
            }
            (Nothing | Optional, None) => None,
            (Value(what) | Values(what), None) => match args.next() {
                Some(v) => Some(v.clone()),
                None => return Err(usage(format!("{name} needs {what}"))),
            },
            (_, Some(v)) => Some(v.to_string()),
        };
        if let (Value(_), Some(earlier)) = (takes, config.value(long)) {
            let now = value.as_deref().unwrap_or_default();
            return Err(usage(format!(
                "{long} is given twice ('{earlier}' and '{now}'): give it once"
            )));
        }
        match long {
            "--help" => return Ok(Command::Help),
            "--version" => return Ok(Command::Version),
            "--verbose" => config.verbose = true,
            "--timeout" => {
                config.timeout = Some(check::timeout(value.as_deref().unwrap_or_default())?)
            }
            "--color" => config.color = check::color(value.as_deref().unwrap_or_default())?,
            _ => {}
        }
        scoped |= scope != Any;
        config.given.push((long, value));
    }
    if config.flag("--list") {
        return Ok(Command::List);
    }
    if config.flag("--host-check") {
        return Ok(Command::HostCheck(config.value("--host-check").map(String::from)));
    }
    if scoped {
        check::scopes(&config)?; // only options with a scope can be in the wrong place
    }
    let linux = config.flag("--linux");
    match config.guests.len() {
        n if linux && n > 0 => Err(usage(format!(
            "{} guest files (give the kernel as --linux BZIMAGE, alone)",
            check::LINUX_TAKES_NO
        ))),
        0 if !linux => Err(usage("no guest given (try mini-kvm hello, or --list)".into())),
        n if n > MAX_GUESTS => Err(usage(format!(
            "{n} guests given; mini-kvm runs at most {MAX_GUESTS} (one vCPU each)"
        ))),
        _ => Ok(Command::Run(config)),
    }
}

#[cfg(test)]
mod tests;
