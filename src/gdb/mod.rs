//! `--gdb PORT`: debug a guest with a real gdb, over the gdb remote serial protocol. A layer:
//! `main` installs it when the command line asks, and a run without `--gdb` runs none of it.
//!
//! * [`packet`]: framing (`$...#cc`, acks, escapes, Ctrl-C), a tested state machine;
//! * [`command`]: packets to commands, and replies;
//! * [`target`]: the register layouts and the target description gdb asks for;
//! * [`debugger`]: the vCPU side: all-stop parking, stepping and breakpoints over
//!   KVM_SET_GUEST_DEBUG and KVM_TRANSLATE;
//! * [`access`]: the vCPU calls the debugger makes (a trait, faked in tests);
//! * [`pagewalk`]: the guest's page tables walked by hand (is an address a user page?);
//! * [`monitor`]: gdb's `monitor` commands (`monitor pagewalk ADDR`: that walk in words);
//! * [`symbols`]: the symbol file for gdb, written where no one else can interfere;
//! * [`clients`]: one client at a time, the next once it has gone, refusals bounded;
//! * [`server`]: the connection, turning gdb's requests into requests to stopped vCPUs.
//!
//! gdb connects before the first guest instruction runs, as with QEMU's `-s -S`.

pub mod access;
pub mod clients;
pub mod command;
pub mod debugger;
pub mod monitor;
pub mod packet;
pub mod pagewalk;
pub mod server;
pub mod symbols;
pub mod target;
