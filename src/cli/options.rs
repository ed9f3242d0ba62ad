//! The table of options: each row holds everything about one option — its names, the value it
//! takes, the runs it belongs to, its help text, and what it sets. The parser (cli.rs) and
//! `--help` (help.rs) read only this table.

use super::values::{self, MAX_CMDLINE, MAX_MODULES, MAX_MODULE_NAMES};
use super::{Command, Parsed, UsageError};
use crate::console::ColorChoice;
use crate::hostcheck::Format;

/// One command-line option.
pub struct Opt {
    /// `--name`, as `--help` shows it.
    pub long: &'static str,
    /// `-x`, if the option has a short form.
    pub short: Option<&'static str>,
    /// Another spelling that is accepted but not shown (`--colour`).
    pub alias: Option<&'static str>,
    pub takes: Takes,
    pub scope: Scope,
    /// The help text, lines joined by `\n`; help.rs indents them.
    pub help: &'static str,
}

/// The value an option takes, and what it does with it.
pub enum Takes {
    /// None: `--name=VALUE` is refused.
    Nothing(fn(&mut Parsed)),
    /// `--name VALUE` or `--name=VALUE`; `needs` ends "--name needs ..." when it is missing.
    Value {
        placeholder: &'static str,
        needs: &'static str,
        set: fn(&mut Parsed, &str) -> Result<(), UsageError>,
    },
    /// Optional, so only as `--name=VALUE`: a following argument is a guest.
    Optional {
        placeholder: &'static str,
        set: fn(&mut Parsed, Option<&str>) -> Result<(), UsageError>,
    },
}

/// The runs an option belongs to, checked once every option has been read.
pub enum Scope {
    /// It chooses what mini-kvm does instead of running (help, version, list, host check).
    Command,
    /// Every run.
    Run,
    /// Only `--linux` runs; `note` ends the refusal ("--initrd is for --linux kernels...").
    Linux { note: &'static str },
    /// Every run but `--linux`; `what` ends "--linux boots one kernel and takes no ...".
    NotLinux { what: &'static str },
    /// Only `--paging` runs.
    Paging,
}

/// The start of every refusal of an option that `--linux` does not take.
pub const LINUX_TAKES_NO: &str = "--linux boots one kernel and takes no";

impl Scope {
    /// Whether option `long` may be given in this run.
    pub fn check(&self, long: &str, linux: bool, paging: bool) -> Result<(), UsageError> {
        match *self {
            Scope::Linux { note } if !linux => {
                Err(UsageError(format!("{long} is for --linux kernels{note}")))
            }
            Scope::NotLinux { what } if linux => {
                Err(UsageError(format!("{LINUX_TAKES_NO} {what}")))
            }
            Scope::Paging if !paging => Err(UsageError(format!(
                "{long} is for --paging guests (their entry point and load offset)"
            ))),
            _ => Ok(()),
        }
    }

    /// What the help text says first: the run an option needs.
    pub fn help_prefix(&self) -> &'static str {
        match self {
            Scope::Linux { .. } => "(with --linux) ",
            Scope::Paging => "(with --paging) ",
            _ => "",
        }
    }
}

/// The row for `name` (long, short or alias).
pub fn find(name: &str) -> Option<&'static Opt> {
    OPTIONS
        .iter()
        .find(|o| o.long == name || o.short == Some(name) || o.alias == Some(name))
}

/// Every option, in `--help` order.
pub static OPTIONS: &[Opt] = &[
    Opt {
        long: "--help",
        short: Some("-h"),
        alias: None,
        takes: Takes::Nothing(|p| p.stop = Some(Command::Help)),
        scope: Scope::Command,
        help: "show this help and exit",
    },
    Opt {
        long: "--version",
        short: Some("-V"),
        alias: None,
        takes: Takes::Nothing(|p| p.stop = Some(Command::Version)),
        scope: Scope::Command,
        help: "show the version and exit",
    },
    Opt {
        long: "--list",
        short: None,
        alias: None,
        takes: Takes::Nothing(|p| p.list = true),
        scope: Scope::Command,
        help: "list the built-in guests and exit",
    },
    Opt {
        long: "--host-check",
        short: None,
        alias: None,
        takes: Takes::Optional {
            placeholder: "keys",
            set: set_host_check,
        },
        scope: Scope::Command,
        help: "run tiny probe guests to show what this host's KVM can\n\
               do (keys: one `name value` line per fact, for scripts)",
    },
    Opt {
        long: "--verbose",
        short: Some("-v"),
        alias: None,
        takes: Takes::Nothing(|p| p.run.verbose = true),
        scope: Scope::Run,
        help: "explain each setup step on stderr, and each vCPU's exits at the end",
    },
    Opt {
        long: "--stats",
        short: None,
        alias: None,
        takes: Takes::Nothing(|p| p.run.stats = true),
        scope: Scope::Run,
        help: "print exit counts and timings per vCPU on stderr at the end",
    },
    Opt {
        long: "--trace",
        short: None,
        alias: None,
        takes: Takes::Optional {
            placeholder: "CLASSES",
            set: |p, classes| {
                let mask = crate::trace::parse_classes(classes).map_err(UsageError)?;
                p.run.trace = Some(mask);
                Ok(())
            },
        },
        scope: Scope::Run,
        help: "explain every VM exit on stderr, one line each; CLASSES\n\
               (comma-separated): io hypercall uart mmio hlt fault irq kick\n\
               debug, all (default: all but kick)",
    },
    Opt {
        long: "--timeout",
        short: None,
        alias: None,
        takes: Takes::Value {
            placeholder: "SECS",
            needs: "a number of seconds",
            set: |p, text| {
                p.run.timeout = Some(values::parse_timeout(text)?);
                Ok(())
            },
        },
        scope: Scope::Run,
        help: "stop after SECS seconds, loading included (decimals allowed,\n\
               0.001 to 1e9): status 124",
    },
    Opt {
        long: "--color",
        short: None,
        alias: Some("--colour"),
        takes: Takes::Value {
            placeholder: "WHEN",
            needs: "auto, always or never",
            set: set_color,
        },
        scope: Scope::Run,
        help: "colour the [N] line prefixes of several vCPUs: auto, always, never\n\
               (auto: only on a terminal and when NO_COLOR is unset)",
    },
    Opt {
        long: "--mem",
        short: None,
        alias: None,
        takes: Takes::Value {
            placeholder: "SIZE",
            needs: "a size such as 64M",
            set: |p, text| {
                p.run.mem = Some(values::parse_mem(text)?);
                Ok(())
            },
        },
        scope: Scope::Run,
        help: "guest RAM for a kernel, e.g. 64M (default 32M for Multiboot, 256M\n\
               for --linux; 2M to 16G, a multiple of 4K; past 3G it continues at\n\
               4G); kernel, modules, initrd and command line must fit in the first 3G",
    },
    Opt {
        long: "--cmdline",
        short: None,
        alias: None,
        takes: Takes::Value {
            placeholder: "STR",
            needs: "the kernel command line",
            set: set_cmdline,
        },
        scope: Scope::Run,
        help: "the kernel command line (Multiboot or --linux; at most 4096 bytes,\n\
               and at most the bzImage's cmdline_size; --linux default:\n\
               console=ttyS0 earlyprintk=serial reboot=t pci=off)",
    },
    Opt {
        long: "--linux",
        short: None,
        alias: None,
        takes: Takes::Value {
            placeholder: "BZIMAGE",
            needs: "a bzImage file",
            set: |p, file| {
                p.run.linux = Some(file.to_string());
                Ok(())
            },
        },
        scope: Scope::Run,
        help: "boot a Linux kernel through the x86 boot protocol (64-bit entry,\n\
               one vCPU, in-kernel PIC/IOAPIC/PIT, COM1 as ttyS0); it needs a KVM\n\
               that runs ordinary kernels (not a paravirtual one: see --host-check)",
    },
    Opt {
        long: "--initrd",
        short: None,
        alias: None,
        takes: Takes::Value {
            placeholder: "FILE",
            needs: "a file",
            set: |p, file| {
                p.run.initrd = Some(file.to_string());
                Ok(())
            },
        },
        scope: Scope::Linux {
            note: " (Multiboot kernels take --module)",
        },
        help: "the initial RAM disk, e.g. a cpio archive",
    },
    Opt {
        long: "--linux-entry",
        short: None,
        alias: None,
        takes: Takes::Value {
            placeholder: "32|64",
            needs: "32 or 64",
            set: set_linux_entry,
        },
        scope: Scope::Linux { note: "" },
        help: "the boot protocol's entry: 64 (default,\n\
               startup_64 with mini-kvm's page tables) or 32 (startup_32, paging off)",
    },
    Opt {
        long: "--module",
        short: None,
        alias: None,
        takes: Takes::Value {
            placeholder: "FILE",
            needs: "a file",
            set: add_module,
        },
        scope: Scope::NotLinux {
            what: "--module (an initial RAM disk is given with --initrd)",
        },
        help: "load FILE as a Multiboot module (repeatable: at most 32, their\n\
               names 16 KiB together; Multiboot kernels only)",
    },
    Opt {
        long: "--gdb",
        short: None,
        alias: None,
        takes: Takes::Value {
            placeholder: "PORT",
            needs: "a TCP port",
            set: set_gdb,
        },
        scope: Scope::NotLinux {
            what: "--gdb (debug a kernel with QEMU's gdb stub for now)",
        },
        help: "wait for gdb on 127.0.0.1:PORT before the first instruction\n\
               (then: gdb -ex 'target remote :PORT'; mini-kvm prints the command;\n\
               PORT 0 picks a free port and prints it)",
    },
    Opt {
        long: "--no-seccomp",
        short: None,
        alias: None,
        takes: Takes::Nothing(|p| p.run.seccomp = false),
        scope: Scope::Run,
        help: "do not confine mini-kvm with its seccomp system-call filter\n\
               (it is on by default from the first KVM_RUN; see --host-check)",
    },
    Opt {
        long: "--no-coalesce",
        short: None,
        alias: None,
        takes: Takes::Nothing(|p| p.run.coalesce = false),
        scope: Scope::Run,
        help: "let every COM1 THR write exit (by default, with one vCPU and\n\
               KVM_CAP_COALESCED_PIO, KVM queues them in its coalesced ring)",
    },
    Opt {
        long: "--long-mode",
        short: None,
        alias: None,
        takes: Takes::Nothing(|p| p.long_mode = true),
        scope: Scope::NotLinux {
            what: CPU_MODE_IS_THE_PROTOCOLS,
        },
        help: "(seed option) run a flat 64-bit guest",
    },
    Opt {
        long: "--paging",
        short: None,
        alias: None,
        takes: Takes::Nothing(|p| p.paging = true),
        scope: Scope::NotLinux {
            what: CPU_MODE_IS_THE_PROTOCOLS,
        },
        help: "(seed option) run a 32-bit paged flat kernel at --entry/--load",
    },
    Opt {
        long: "--entry",
        short: None,
        alias: None,
        takes: Takes::Value {
            placeholder: "ADDR",
            needs: "an address",
            set: |p, text| {
                p.entry = values::parse_address("--entry", text)?;
                Ok(())
            },
        },
        scope: Scope::Paging,
        help: "entry point, default 0x80001000",
    },
    Opt {
        long: "--load",
        short: None,
        alias: None,
        takes: Takes::Value {
            placeholder: "OFF",
            needs: "an address",
            set: |p, text| {
                p.load = values::parse_address("--load", text)?;
                Ok(())
            },
        },
        scope: Scope::Paging,
        help: "load offset, default 0x1000",
    },
];

const CPU_MODE_IS_THE_PROTOCOLS: &str =
    "--long-mode or --paging: the boot protocol sets the CPU mode";

fn set_host_check(p: &mut Parsed, format: Option<&str>) -> Result<(), UsageError> {
    p.host_check = Some(match format {
        None | Some("table") => Format::Table,
        Some("keys") => Format::Keys,
        Some(other) => {
            return Err(UsageError(format!(
                "--host-check= takes table or keys, not '{other}'"
            )))
        }
    });
    Ok(())
}

fn set_color(p: &mut Parsed, when: &str) -> Result<(), UsageError> {
    p.run.color = match when {
        "auto" => ColorChoice::Auto,
        "always" => ColorChoice::Always,
        "never" => ColorChoice::Never,
        other => {
            return Err(UsageError(format!(
                "--color takes auto, always or never, not '{other}'"
            )))
        }
    };
    Ok(())
}

fn set_cmdline(p: &mut Parsed, text: &str) -> Result<(), UsageError> {
    if text.len() > MAX_CMDLINE {
        return Err(UsageError(format!(
            "--cmdline is {} bytes; the kernel command line may have at most {MAX_CMDLINE}",
            text.len()
        )));
    }
    p.run.cmdline = Some(text.to_string());
    Ok(())
}

fn set_linux_entry(p: &mut Parsed, entry: &str) -> Result<(), UsageError> {
    p.run.linux_entry32 = match entry {
        "32" => true,
        "64" => false,
        other => {
            return Err(UsageError(format!(
                "--linux-entry takes 32 or 64, not '{other}'"
            )))
        }
    };
    Ok(())
}

fn add_module(p: &mut Parsed, name: &str) -> Result<(), UsageError> {
    let modules = &mut p.run.modules;
    if modules.len() == MAX_MODULES {
        return Err(UsageError(format!(
            "more than {MAX_MODULES} --module files; a Multiboot kernel gets at most {MAX_MODULES}"
        )));
    }
    // Each name is stored with its NUL.
    let names: usize = modules.iter().map(|m| m.len() + 1).sum::<usize>() + name.len() + 1;
    if names > MAX_MODULE_NAMES {
        return Err(UsageError(format!(
            "the --module file names are {names} bytes together; at most {MAX_MODULE_NAMES} fit \
             in the boot information"
        )));
    }
    modules.push(name.to_string());
    Ok(())
}

fn set_gdb(p: &mut Parsed, text: &str) -> Result<(), UsageError> {
    let port = text.trim_start_matches(':').parse::<u16>().map_err(|_| {
        UsageError(format!(
            "--gdb needs a TCP port (1-65535, or 0 for any free one), not '{text}'"
        ))
    })?;
    p.run.gdb = Some(port);
    Ok(())
}
