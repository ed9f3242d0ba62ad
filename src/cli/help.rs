//! `--help`: a fixed introduction and epilogue around the options, written from the table
//! (options.rs) so that the help cannot list an option the parser lacks, or miss one it has.

use super::options::{Opt, Takes, OPTIONS};

const INTRO: &str = "\
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
";

// The blank line after the options, then the rest.
const OUTRO: &str = "\n\
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
  130  stopped by SIGINT/SIGTERM/SIGHUP, Ctrl-A x or gdb's kill
";

/// The column where the options' help text starts.
const HELP_COLUMN: usize = 22;

/// The whole `--help` text.
pub fn help() -> String {
    let mut text = String::from(INTRO);
    for opt in OPTIONS {
        describe(&mut text, opt);
    }
    text.push_str(OUTRO);
    text
}

/// One option: its names and value on the left, its help text in a column beside them (or two
/// spaces after them, when they are wider than the column leaves room for).
fn describe(text: &mut String, opt: &Opt) {
    let mut left = match opt.short {
        Some(short) => format!("  {short}, {}", opt.long),
        None => format!("      {}", opt.long),
    };
    match opt.takes {
        Takes::Nothing(_) => {}
        Takes::Value { placeholder, .. } => left += &format!(" {placeholder}"),
        Takes::Optional { placeholder, .. } => left += &format!("[={placeholder}]"),
    }
    if left.len() < HELP_COLUMN {
        text.push_str(&format!("{left:<HELP_COLUMN$}"));
    } else {
        text.push_str(&format!("{left}  "));
    }
    let help = format!("{}{}", opt.scope.help_prefix(), opt.help);
    for (i, line) in help.lines().enumerate() {
        if i > 0 {
            text.push_str(&" ".repeat(HELP_COLUMN));
        }
        text.push_str(line);
        text.push('\n');
    }
}
