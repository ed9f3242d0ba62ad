//! The host side of the guest's console: where guest bytes go, where input comes from, and the
//! terminal mode while a guest runs.
//!
//! * [`output`]: per-vCPU output buffers, `[N] ` line prefixes and colour when several vCPUs
//!   share one stdout.
//! * [`input`]: one stdin reader thread feeding a bounded queue that the hypercall port and the
//!   UART take bytes from; end of input is remembered so guests can see it.
//! * [`queue`]: the bounded queue and writer thread every byte to stdout and stderr goes
//!   through, so no vCPU (and not the main thread) ever blocks in write(2); [`errout`]: stderr.
//! * [`stop_budget`]: once a user asks for a stop, one deadline for every wait on the way out.
//! * [`terminal`]: raw mode on a TTY (so keys reach the guest one by one, Ctrl-C included),
//!   restored on every way out, and QEMU's `Ctrl-A x` escape to quit.
//!
//! Guest bytes go to stdout; everything mini-kvm itself says goes to stderr.

pub mod errout;
pub mod input;
pub mod output;
pub mod queue;
pub mod stop_budget;
pub mod terminal;

pub use input::HostInput;
pub use output::{ColorChoice, GuestOutput, OutputSink};
