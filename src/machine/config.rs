//! What one run is asked to do: the guests, the machine's shape and the host-side choices.
//! `cli.rs` builds it from the command line; everything below `machine` gets the parts it needs.

use crate::boot::Mode;
use crate::console::ColorChoice;
use std::time::Duration;

/// One run of mini-kvm, as the command line asked for it (`mini-kvm --help` says each option).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub guests: Vec<String>,
    pub verbose: bool,
    pub stats: bool,
    pub timeout: Option<Duration>,
    pub color: ColorChoice,
    pub mode: Mode,
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
