//! The command line, parsed by hand: `mini-kvm [OPTIONS] GUEST...`.
//!
//! Options may come before or after guests, as `--opt VALUE` or `--opt=VALUE`; `--` ends them.
//! Parsing is a pure function from the argument list to a [`Command`], so every rule below is
//! unit-tested without running anything.

use crate::console::ColorChoice;
use std::time::Duration;

/// At most this many guests (one vCPU each), as in the seed.
pub const MAX_GUESTS: usize = 4;

pub const USAGE: &str = "usage: mini-kvm [OPTIONS] GUEST...";

pub const HELP: &str = "\
mini-kvm: an educational x86 hypervisor on the Linux KVM API.

usage: mini-kvm [OPTIONS] GUEST...
       mini-kvm [OPTIONS] --linux BZIMAGE [--initrd FILE] [--cmdline STR] [--mem SIZE]

Runs each GUEST on its own vCPU (1 to 4) of one VM: the guests share its
physical memory and its COM1; GETCHAR input goes to vCPU 0 only. A GUEST is a
file, or the name of a guest built into mini-kvm (see --list). A file is a flat
binary (16-bit real mode, at most 256 KiB, unless --long-mode: at most 4 MiB
less 84 KiB, or --paging: within 4 MiB) or, recognised from its contents, a
Multiboot kernel (ELF32 or ELF64), which runs alone with an interrupt
controller, a timer and 32 MiB of RAM (--mem).

Options:
  -h, --help          show this help and exit
  -V, --version       show the version and exit
      --list          list the built-in guests and exit
      --host-check[=keys]  run tiny probe guests to show what this host's KVM can
                      do (keys: one `name value` line per fact, for scripts)
  -v, --verbose       explain each setup step on stderr, and each vCPU's exits at the end
      --stats         print exit counts and timings per vCPU on stderr at the end
      --trace[=CLASSES]  explain every VM exit on stderr, one line each; CLASSES
                      (comma-separated): io hypercall uart mmio hlt fault irq kick
                      debug, all (default: all but kick)
      --timeout SECS  stop after SECS seconds, loading included (decimals allowed,
                      0.001 to 1e9): status 124
      --color WHEN    colour the [N] line prefixes of several vCPUs: auto, always, never
                      (auto: only on a terminal and when NO_COLOR is unset)
      --mem SIZE      guest RAM for a kernel, e.g. 64M (default 32M for Multiboot, 256M
                      for --linux; 2M to 16G, a multiple of 4K; past 3G it continues at
                      4G); kernel, modules, initrd and command line must fit in the first 3G
      --cmdline STR   the kernel command line (Multiboot or --linux; at most 4096 bytes,
                      and at most the bzImage's cmdline_size; --linux default:
                      console=ttyS0 earlyprintk=serial reboot=t pci=off)
      --linux BZIMAGE boot a Linux kernel through the x86 boot protocol (64-bit entry,
                      one vCPU, in-kernel PIC/IOAPIC/PIT, COM1 as ttyS0); it needs a KVM
                      that runs ordinary kernels (not a paravirtual one: see --host-check)
      --initrd FILE   (with --linux) the initial RAM disk, e.g. a cpio archive
      --linux-entry 32|64  (with --linux) the boot protocol's entry: 64 (default,
                      startup_64 with mini-kvm's page tables) or 32 (startup_32, paging off)
      --module FILE   load FILE as a Multiboot module (repeatable: at most 32, their
                      names 16 KiB together; Multiboot kernels only)
      --gdb PORT      wait for gdb on 127.0.0.1:PORT before the first instruction
                      (then: gdb -ex 'target remote :PORT'; mini-kvm prints the command;
                      PORT 0 picks a free port and prints it)
      --no-seccomp    do not confine mini-kvm with its seccomp system-call filter
                      (it is on by default from the first KVM_RUN; see --host-check)
      --no-coalesce   let every COM1 THR write exit (by default, with one vCPU and
                      KVM_CAP_COALESCED_PIO, KVM queues them in its coalesced ring)
      --long-mode     (seed option) run a flat 64-bit guest
      --paging        (seed option) run a 32-bit paged flat kernel at --entry/--load
      --entry ADDR    (with --paging) entry point, default 0x80001000
      --load OFF      (with --paging) load offset, default 0x1000

Guest I/O: port 0x500 hypercalls (AL = call, BL = argument): 0 EXIT, 1 PUTCHAR,
2 GETCHAR (then IN from 0x500: the byte, 0xFF = none yet, 0x04 = input ended),
3 EXIT with status BL. COM1 (16550A UART) at 0x3F8. Guest output goes to
stdout, mini-kvm's messages to stderr. On a terminal, keys go to the guest
(Ctrl-C included); Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A.

Exit status:
  0    every vCPU stopped normally (EXIT, or HLT), or the guest switched the
       machine off (cli; hlt for good) or reset it (triple fault, i8042 0xFE)
  N    the guest's own status from EXIT_STATUS (the first non-zero one)
  1    host or KVM failure while running
  2    usage error
  3    a guest image cannot be used (missing, directory, empty, too large...)
  4    /dev/kvm missing or unusable (set MINI_KVM_DEVICE to use another path), or
       this KVM cannot run the mode asked for (--paging, --linux on a paravirtual KVM)
  5    guest fault (triple fault, emulation failure, failed entry, unknown hypercall)
  124  --timeout expired
  130  stopped by SIGINT/SIGTERM/SIGHUP or Ctrl-A x
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    Help,
    Version,
    List,
    /// `--host-check`: find out what this host's KVM can do.
    HostCheck(crate::hostcheck::Format),
    Run(RunOptions),
}

/// The seed's CPU-mode options.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModeOption {
    /// Decided by each guest (real mode, unless an embedded guest says otherwise).
    Auto,
    LongMode,
    Paging {
        entry: u64,
        load: u64,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct RunOptions {
    pub guests: Vec<String>,
    pub verbose: bool,
    pub stats: bool,
    pub timeout: Option<Duration>,
    pub color: ColorChoice,
    pub mode: ModeOption,
    /// `--mem`: guest RAM for a Multiboot kernel.
    pub mem: Option<u64>,
    /// `--cmdline`: the kernel command line (Multiboot), if given.
    pub cmdline: Option<String>,
    /// `--module FILE`: Multiboot modules, in order.
    pub modules: Vec<String>,
    /// `--trace[=CLASSES]`: the class mask (see trace.rs), if tracing.
    pub trace: Option<u32>,
    /// `--linux BZIMAGE`: boot a Linux kernel (then no GUEST is given).
    pub linux: Option<String>,
    /// `--initrd FILE`: the initial RAM disk for `--linux`.
    pub initrd: Option<String>,
    /// `--linux-entry 32`: enter Linux by the 32-bit boot protocol (the seed's option).
    pub linux_entry32: bool,
    /// `--gdb PORT`: wait for gdb on 127.0.0.1:PORT before the first instruction.
    pub gdb: Option<u16>,
    /// Confine the process with a seccomp filter before the first KVM_RUN (`--no-seccomp`
    /// turns it off).
    pub seccomp: bool,
    /// Queue COM1 THR writes in KVM's coalesced ring where possible (`--no-coalesce`: off).
    pub coalesce: bool,
}

/// A usage error (exit status 2): the message says what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Parses an unsigned number the way C's strtoul(…, 0) does: `0x` hex, `0` octal, else decimal.
pub fn parse_number(text: &str) -> Option<u64> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        u64::from_str_radix(hex, 16).ok()
    } else if t.len() > 1 && t.starts_with('0') {
        u64::from_str_radix(&t[1..], 8).ok()
    } else {
        t.parse().ok()
    }
}

/// The most RAM a guest may have. Above 3 GiB it continues at 4 GiB, past the hole where the
/// LAPIC, IOAPIC and KVM's TSS pages live (boot/mod.rs); untouched RAM costs the host nothing.
pub const MAX_MEM: u64 = 16 << 30;
/// The least: the 1 MiB below a kernel plus room for one.
pub const MIN_MEM: u64 = 2 << 20;

/// The longest `--cmdline` (Linux's own limit on x86, COMMAND_LINE_SIZE).
pub const MAX_CMDLINE: usize = 4096;
/// The most `--module` files: the slots of the module list in the Multiboot boot area.
pub const MAX_MODULES: usize = crate::boot::multiboot::MAX_MODULES;
/// The module file names (each with its NUL) must fit, with the command line, in the strings
/// part of the boot area.
pub const MAX_MODULE_NAMES: usize = 16 * 1024;
/// `--timeout` bounds: a timer finer than 1 ms means nothing here; 1e9 s is "no limit" enough.
pub const MIN_TIMEOUT_SECS: f64 = 0.001;
pub const MAX_TIMEOUT_SECS: f64 = 1e9;

/// Parses a size like `32M`, `64MiB`, `1G`, `524288K` or a plain (or 0x hex) byte count.
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    if t.starts_with("0x") || t.starts_with("0X") {
        return parse_number(t);
    }
    let split = t.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "K" | "KB" | "KIB" => 10,
        "M" | "MB" | "MIB" => 20,
        "G" | "GB" | "GIB" => 30,
        _ => return None,
    };
    let n = parse_number(number)?;
    n.checked_mul(1u64 << shift)
}

fn parse_timeout(text: &str) -> Result<Duration, UsageError> {
    let secs: f64 = text
        .parse()
        .map_err(|_| UsageError(format!("--timeout needs a number of seconds, not '{text}'")))?;
    if !(secs > 0.0 && secs <= MAX_TIMEOUT_SECS) {
        return Err(UsageError(format!(
            "--timeout must be more than 0 seconds (and at most {MAX_TIMEOUT_SECS}), not '{text}'"
        )));
    }
    if secs < MIN_TIMEOUT_SECS {
        return Err(UsageError(format!(
            "--timeout must be at least {MIN_TIMEOUT_SECS} s (1 ms), not '{text}'"
        )));
    }
    Ok(Duration::from_secs_f64(secs))
}

pub fn parse(args: &[String]) -> Result<Command, UsageError> {
    let mut opts = RunOptions {
        guests: Vec::new(),
        verbose: false,
        stats: false,
        timeout: None,
        color: ColorChoice::Auto,
        mode: ModeOption::Auto,
        mem: None,
        cmdline: None,
        modules: Vec::new(),
        trace: None,
        linux: None,
        linux_entry32: false,
        initrd: None,
        gdb: None,
        seccomp: true,
        coalesce: true,
    };
    let mut entry_or_load = None;
    let mut long_mode = false;
    let mut paging = false;
    let mut entry: u64 = 0x8000_1000;
    let mut load: u64 = 0x1000;
    let mut list = false;
    let mut host_check = None;

    let mut i = 0;
    let mut only_guests = false;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if only_guests || !arg.starts_with('-') || arg == "-" {
            opts.guests.push(arg.clone());
            continue;
        }
        if arg == "--" {
            only_guests = true;
            continue;
        }
        // `--name=value` or `--name value`.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n, Some(v.to_string())),
            _ => (arg.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, UsageError> {
            if let Some(v) = inline.clone() {
                return Ok(v);
            }
            let v = args
                .get(i)
                .ok_or_else(|| UsageError(format!("{name} needs {what}")))?;
            i += 1;
            Ok(v.clone())
        };
        match name {
            "-h" | "--help" | "-V" | "--version" if inline.is_some() => {
                return Err(UsageError(format!("{name} takes no value")))
            }
            "-h" | "--help" => return Ok(Command::Help),
            "-V" | "--version" => return Ok(Command::Version),
            "--list" => list = true,
            "--host-check" => {
                host_check = Some(match inline.as_deref() {
                    None | Some("table") => crate::hostcheck::Format::Table,
                    Some("keys") => crate::hostcheck::Format::Keys,
                    Some(other) => {
                        return Err(UsageError(format!(
                            "--host-check= takes table or keys, not '{other}'"
                        )))
                    }
                })
            }
            "-v" | "--verbose" => opts.verbose = true,
            "--stats" => opts.stats = true,
            "--timeout" => opts.timeout = Some(parse_timeout(&value("a number of seconds")?)?),
            "--color" | "--colour" => {
                opts.color = match value("auto, always or never")?.as_str() {
                    "auto" => ColorChoice::Auto,
                    "always" => ColorChoice::Always,
                    "never" => ColorChoice::Never,
                    other => {
                        return Err(UsageError(format!(
                            "--color takes auto, always or never, not '{other}'"
                        )))
                    }
                }
            }
            "--mem" => {
                let text = value("a size such as 64M")?;
                let size = parse_size(&text).ok_or_else(|| {
                    UsageError(format!("--mem needs a size such as 64M, not '{text}'"))
                })?;
                if !(MIN_MEM..=MAX_MEM).contains(&size) || size % 4096 != 0 {
                    return Err(UsageError(format!(
                        "--mem must be a multiple of 4 KiB from 2M to 16G, not '{text}'"
                    )));
                }
                opts.mem = Some(size);
            }
            "--cmdline" => {
                let text = value("the kernel command line")?;
                if text.len() > MAX_CMDLINE {
                    return Err(UsageError(format!(
                        "--cmdline is {} bytes; the kernel command line may have at most \
                         {MAX_CMDLINE}",
                        text.len()
                    )));
                }
                opts.cmdline = Some(text);
            }
            "--no-seccomp" => opts.seccomp = false,
            "--no-coalesce" => opts.coalesce = false,
            "--linux" => opts.linux = Some(value("a bzImage file")?),
            "--initrd" => opts.initrd = Some(value("a file")?),
            "--linux-entry" => {
                opts.linux_entry32 = match value("32 or 64")?.as_str() {
                    "32" => true,
                    "64" => false,
                    other => {
                        return Err(UsageError(format!(
                            "--linux-entry takes 32 or 64, not '{other}'"
                        )))
                    }
                }
            }
            // The classes are optional, so only `--trace=CLASSES` takes them.
            "--trace" => {
                opts.trace =
                    Some(crate::trace::parse_classes(inline.as_deref()).map_err(UsageError)?)
            }
            "--module" => {
                let name = value("a file")?;
                if opts.modules.len() == MAX_MODULES {
                    return Err(UsageError(format!(
                        "more than {MAX_MODULES} --module files; a Multiboot kernel gets at most \
                         {MAX_MODULES}"
                    )));
                }
                let names: usize = opts.modules.iter().map(|m| m.len() + 1).sum();
                if names + name.len() + 1 > MAX_MODULE_NAMES {
                    return Err(UsageError(format!(
                        "the --module file names are {} bytes together; at most \
                         {MAX_MODULE_NAMES} fit in the boot information",
                        names + name.len() + 1
                    )));
                }
                opts.modules.push(name);
            }
            "--gdb" => {
                let text = value("a TCP port")?;
                let port = text.trim_start_matches(':').parse::<u16>().ok();
                opts.gdb = Some(port.ok_or_else(|| {
                    UsageError(format!(
                        "--gdb needs a TCP port (1-65535, or 0 for any free one), not '{text}'"
                    ))
                })?);
            }
            "--long-mode" => long_mode = true,
            "--paging" => paging = true,
            "--entry" | "--load" => {
                let text = value("an address")?;
                let n = parse_number(&text)
                    .ok_or_else(|| UsageError(format!("{name} needs a number, not '{text}'")))?;
                entry_or_load.get_or_insert(name);
                if name == "--entry" {
                    entry = n;
                } else {
                    load = n;
                }
            }
            _ => return Err(UsageError(format!("unknown option '{arg}'"))),
        }
        if inline.is_some()
            && matches!(
                name,
                "--list"
                    | "-v"
                    | "--verbose"
                    | "--stats"
                    | "--long-mode"
                    | "--paging"
                    | "--no-seccomp"
                    | "--no-coalesce"
            )
        {
            return Err(UsageError(format!("{name} takes no value")));
        }
    }

    if list {
        return Ok(Command::List);
    }
    if let Some(format) = host_check {
        return Ok(Command::HostCheck(format));
    }
    opts.mode = match (long_mode, paging) {
        (true, true) => {
            return Err(UsageError(
                "--long-mode and --paging are different CPU modes: choose one".into(),
            ))
        }
        (true, false) => ModeOption::LongMode,
        (false, true) => ModeOption::Paging { entry, load },
        (false, false) => ModeOption::Auto,
    };
    if let (Some(name), false) = (entry_or_load, paging) {
        return Err(UsageError(format!(
            "{name} is for --paging guests (their entry point and load offset)"
        )));
    }
    if opts.linux.is_some() {
        return linux_options(opts);
    }
    if opts.initrd.is_some() {
        return Err(UsageError(
            "--initrd is for --linux kernels (Multiboot kernels take --module)".into(),
        ));
    }
    if opts.linux_entry32 {
        return Err(UsageError("--linux-entry is for --linux kernels".into()));
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

/// The rules for `--linux`: it runs alone, in the boot protocol's own CPU mode.
fn linux_options(opts: RunOptions) -> Result<Command, UsageError> {
    let refuse = |what: &str| {
        Err(UsageError(format!(
            "--linux boots one kernel and takes no {what}"
        )))
    };
    if !opts.guests.is_empty() {
        return refuse("guest files (give the kernel as --linux BZIMAGE, alone)");
    }
    if opts.mode != ModeOption::Auto {
        return refuse("--long-mode or --paging: the boot protocol sets the CPU mode");
    }
    if !opts.modules.is_empty() {
        return refuse("--module (an initial RAM disk is given with --initrd)");
    }
    if opts.gdb.is_some() {
        return refuse("--gdb (debug a kernel with QEMU's gdb stub for now)");
    }
    Ok(Command::Run(opts))
}

#[cfg(test)]
#[path = "cli_tests.rs"]
mod tests;
