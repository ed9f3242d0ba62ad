//! mini-kvm: an educational x86 hypervisor written directly on the Linux KVM API.
//!
//! Reading order for a student (each file says what it teaches and where the reference is):
//! 1. `kvm/` — the syscall layer: ioctl numbers, the C structs, the system/VM/vCPU fds, kicks.
//! 2. `memory.rs` — guest RAM as one mmap, bounds-checked.
//! 3. `boot/` — putting an image into memory and setting the first registers: real mode,
//!    long mode, 32-bit paging, Multiboot.
//! 4. `vcpu.rs` — the KVM_RUN loop and what each exit means.
//! 5. `devices/` — the port bus, the hypercall port, the 16550A UART.
//! 6. `console/` — stdout, stdin and the terminal on the host side.
//! 7. `control.rs`, `machine/` — building the VM, threads, stopping vCPUs, the exit status.
//! 8. `trace.rs`, `stats.rs`, `fault.rs` — explaining exits and faults.
//! 9. `gdb/` — the gdb remote protocol; `hostcheck/` — what this host's KVM can do.
//! 10. `main.rs` (this file) and `cli.rs` — the command line.

#![deny(clippy::undocumented_unsafe_blocks)]

/// `eprintln!` that never panics: a closed stderr (say `2>&1 | head`) must not crash a VMM.
macro_rules! diag {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod boot;
mod cli;
mod console;
mod control;
mod devices;
mod error;
mod exit_address;
mod fault;
mod gdb;
mod guests;
mod hostcheck;
mod kvm;
mod machine;
mod memory;
mod stats;
mod trace;
mod vcpu;
mod x86;

use cli::Command;
use error::status;

/// Writes to stdout, ignoring a closed pipe (`mini-kvm --list | head -1`).
fn say(text: &str) {
    use std::io::Write as _;
    let _ = std::io::stdout().write_all(text.as_bytes());
}

fn list_guests() {
    let mut text = String::from("Built-in guests (run with: mini-kvm NAME):\n");
    for g in guests::EMBEDDED {
        text.push_str(&format!("  {:<22} {}\n", g.name, g.description));
    }
    say(&text);
}

fn main() {
    let mut args = Vec::new();
    for arg in std::env::args_os().skip(1) {
        match arg.into_string() {
            Ok(a) => args.push(a),
            Err(bad) => {
                diag!("mini-kvm: argument {bad:?} is not valid UTF-8");
                std::process::exit(status::USAGE);
            }
        }
    }
    let code = match cli::parse(&args) {
        Ok(Command::Help) => {
            say(cli::HELP);
            status::OK
        }
        Ok(Command::Version) => {
            say(concat!("mini-kvm ", env!("CARGO_PKG_VERSION"), "\n"));
            status::OK
        }
        Ok(Command::List) => {
            list_guests();
            status::OK
        }
        Ok(Command::HostCheck(format)) => hostcheck::run(format),
        Ok(Command::Run(opts)) => match machine::run(&opts) {
            Ok(code) => code,
            Err(e) => {
                diag!("mini-kvm: error: {e}");
                e.exit_status()
            }
        },
        Err(usage) => {
            diag!("mini-kvm: {usage} ({}; see mini-kvm --help)", cli::USAGE);
            status::USAGE
        }
    };
    std::process::exit(code);
}
