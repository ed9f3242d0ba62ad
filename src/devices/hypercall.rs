//! The hypercall port (0x500): the simplest way for a guest to talk to the VMM.
//!
//! A "hypercall" here is just port I/O to a port no real hardware uses: `out dx, al` with
//! DX = 0x500 makes KVM exit with KVM_EXIT_IO, and the VMM then reads the guest's registers to
//! find out what was asked (api.rst 5, KVM_EXIT_IO; the seed VMM's ABI, kept so its binaries run
//! unchanged):
//!
//! | AL | call        | argument | effect                                                   |
//! |----|-------------|----------|----------------------------------------------------------|
//! | 0  | EXIT        |          | the vCPU stops normally (status 0)                       |
//! | 1  | PUTCHAR     | BL       | prints the byte BL                                       |
//! | 2  | GETCHAR     |          | the next `in al, dx` returns a byte, 0xFF (none yet) or 0x04 (EOT: input ended) |
//! | 3  | EXIT_STATUS | BL       | the vCPU stops; mini-kvm exits with status BL (new here) |
//!
//! Any other number is a guest error. The data byte of the `out` is ignored: AL is the call
//! number either way. Real x86 hypervisors use `vmcall`/`vmmcall` for this (KVM_HC_* in
//! Documentation/virt/kvm/x86/hypercalls.rst); port I/O works in every CPU mode, real mode
//! included, and needs no KVM support beyond KVM_EXIT_IO.

use super::InputByte;

/// The port the hypercall device listens on.
pub const HYPERCALL_PORT: u16 = 0x500;

pub const HC_EXIT: u8 = 0;
pub const HC_PUTCHAR: u8 = 1;
pub const HC_GETCHAR: u8 = 2;
pub const HC_EXIT_STATUS: u8 = 3;

/// GETCHAR's answer when no byte is waiting (the seed's value: "try again").
pub const GETCHAR_NOTHING_YET: u8 = 0xFF;
/// GETCHAR's answer once input has ended: EOT, the byte Ctrl-D sends on a terminal.
pub const GETCHAR_END_OF_INPUT: u8 = 0x04;

/// A decoded hypercall.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hypercall {
    Exit,
    Putchar(u8),
    Getchar,
    ExitStatus(u8),
    Unknown(u8),
}

impl Hypercall {
    /// Decodes the call from the guest's AL (number) and BL (argument).
    // [tour:hypercall-decode]
    pub fn decode(al: u8, bl: u8) -> Hypercall {
        match al {
            HC_EXIT => Hypercall::Exit,
            HC_PUTCHAR => Hypercall::Putchar(bl),
            HC_GETCHAR => Hypercall::Getchar,
            HC_EXIT_STATUS => Hypercall::ExitStatus(bl),
            n => Hypercall::Unknown(n),
        }
    }
    // [/tour:hypercall-decode]

    /// The call's name, for messages and traces.
    pub fn name(&self) -> &'static str {
        match self {
            Hypercall::Exit => "EXIT",
            Hypercall::Putchar(_) => "PUTCHAR",
            Hypercall::Getchar => "GETCHAR",
            Hypercall::ExitStatus(_) => "EXIT_STATUS",
            Hypercall::Unknown(_) => "unknown",
        }
    }
}

/// Per-vCPU state of the port: the byte a GETCHAR fetched, until the guest's `in` collects it.
#[derive(Debug, Default)]
pub struct HypercallPort {
    pending: Option<u8>,
}

// [tour:getchar-port]
impl HypercallPort {
    /// Remembers GETCHAR's result for the following `in`.
    pub fn getchar_result(&mut self, input: InputByte) -> u8 {
        let byte = match input {
            InputByte::Byte(b) => b,
            InputByte::NotYet => GETCHAR_NOTHING_YET,
            InputByte::Ended => GETCHAR_END_OF_INPUT,
        };
        self.pending = Some(byte);
        byte
    }

    /// A guest `in` from the port: the pending GETCHAR result, or 0 if there is none (as the
    /// seed did).
    pub fn read(&mut self) -> u8 {
        self.pending.take().unwrap_or(0)
    }
}
// [/tour:getchar-port]

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_seed_abi_plus_exit_status() {
        assert_eq!(Hypercall::decode(0, 0x41), Hypercall::Exit);
        assert_eq!(Hypercall::decode(1, b'H'), Hypercall::Putchar(b'H'));
        assert_eq!(Hypercall::decode(2, 9), Hypercall::Getchar);
        assert_eq!(Hypercall::decode(3, 7), Hypercall::ExitStatus(7));
        assert_eq!(Hypercall::decode(0x7F, 0), Hypercall::Unknown(0x7F));
        assert_eq!(Hypercall::decode(0xFF, 0).name(), "unknown");
    }

    #[test]
    fn getchar_then_in_returns_the_byte_once() {
        let mut port = HypercallPort::default();
        assert_eq!(port.read(), 0, "an IN without GETCHAR reads 0");
        port.getchar_result(InputByte::Byte(b'q'));
        assert_eq!(port.read(), b'q');
        assert_eq!(port.read(), 0);
        port.getchar_result(InputByte::NotYet);
        assert_eq!(port.read(), GETCHAR_NOTHING_YET);
        port.getchar_result(InputByte::Ended);
        assert_eq!(port.read(), GETCHAR_END_OF_INPUT);
    }
}
