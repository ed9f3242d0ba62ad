//! The hypercall port (0x500): the simplest way for a guest to talk to the VMM.
//!
//! A "hypercall" here is port I/O to a port no real hardware uses: `out dx, al` with DX = 0x500
//! makes KVM exit with KVM_EXIT_IO (api.rst 5), and the VMM reads the guest's registers to find
//! out what was asked. The ABI is the C mini-kvm's, kept so that its guest binaries run
//! unchanged (docs/c-vmm.md):
//!
//! | AL | call        | argument | effect                                                   |
//! |----|-------------|----------|----------------------------------------------------------|
//! | 0  | EXIT        |          | the vCPU stops normally (status 0)                       |
//! | 1  | PUTCHAR     | BL       | prints the byte BL                                       |
//! | 2  | GETCHAR     |          | the next `in al, dx` returns a byte, 0xFF (none yet) or 0x04 (EOT: input ended) |
//! | 3  | EXIT_STATUS | BL       | the vCPU stops; mini-kvm exits with status BL            |
//!
//! Any other number is a guest fault. The data byte of the `out` is ignored: AL is the number
//! either way. Real hypervisors use `vmcall`/`vmmcall` for this (KVM_HC_* in
//! Documentation/virt/kvm/x86/hypercalls.rst); port I/O works in every CPU mode, real mode
//! included, and needs nothing of KVM beyond KVM_EXIT_IO.

use super::{ByteSink, ByteSource, Input};
use crate::error::{Ending, Why};

/// The port the hypercall device listens on.
pub const HYPERCALL_PORT: u16 = 0x500;

/// GETCHAR's answer when no byte is waiting (the C VMM's value: "try again").
pub const NOTHING_YET: u8 = 0xFF;
/// GETCHAR's answer once input has ended: EOT, the byte Ctrl-D sends on a terminal.
pub const END_OF_INPUT: u8 = 0x04;

/// A hypercall, decoded from AL (the number) and BL (the argument).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hypercall {
    Exit,
    Putchar(u8),
    Getchar,
    ExitStatus(u8),
    Unknown(u8),
}

// [tour:hypercall-decode]
impl Hypercall {
    pub fn decode(al: u8, bl: u8) -> Hypercall {
        match al {
            0 => Hypercall::Exit,
            1 => Hypercall::Putchar(bl),
            2 => Hypercall::Getchar,
            3 => Hypercall::ExitStatus(bl),
            n => Hypercall::Unknown(n),
        }
    }
}
// [/tour:hypercall-decode]

// [tour:getchar-port]
/// One vCPU's side of the port: the byte GETCHAR fetched, until the guest's `in` collects it.
#[derive(Debug, Default)]
pub struct HypercallPort {
    /// GETCHAR's answer, until the guest's `in` collects it.
    pub pending: Option<u8>,
}

impl HypercallPort {
    /// An `out` to the port: the call in AL/BL, done.
    pub fn call(
        &mut self,
        call: Hypercall,
        out: &mut dyn ByteSink,
        input: &dyn ByteSource,
    ) -> Result<(), Ending> {
        match call {
            Hypercall::Putchar(byte) => out.push(byte),
            Hypercall::Getchar => {
                // The guest is about to wait for the user, who must see its prompt first.
                out.flush()?;
                self.pending = Some(match input.pop() {
                    Input::Byte(b) => b,
                    Input::NotYet => NOTHING_YET,
                    Input::Ended => END_OF_INPUT,
                });
                Ok(())
            }
            Hypercall::Exit => Err(Ending::Halted),
            Hypercall::ExitStatus(status) => Err(Ending::Exit(status)),
            Hypercall::Unknown(n) => Err(Ending::fault(Why::UnknownHypercall(n))),
        }
    }

    /// An `in` from the port: the pending GETCHAR result, or 0 if none (as the C VMM did).
    pub fn read(&mut self) -> u8 {
        self.pending.take().unwrap_or(0)
    }
}
// [/tour:getchar-port]

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_the_c_vmm_abi_plus_exit_status() {
        assert_eq!(Hypercall::decode(0, 0x41), Hypercall::Exit);
        assert_eq!(Hypercall::decode(1, b'H'), Hypercall::Putchar(b'H'));
        assert_eq!(Hypercall::decode(2, 9), Hypercall::Getchar);
        assert_eq!(Hypercall::decode(3, 7), Hypercall::ExitStatus(7));
        assert_eq!(Hypercall::decode(0x7F, 0), Hypercall::Unknown(0x7F));
    }

    /// Input that answers from a script.
    struct Script(std::sync::Mutex<Vec<Input>>);
    impl ByteSource for Script {
        fn take(&self, _: &mut [u8]) -> (usize, bool) {
            (0, false)
        }
        fn pop(&self) -> Input {
            self.0.lock().expect("one test thread").remove(0)
        }
    }

    #[test]
    fn calls_print_read_and_stop() {
        let mut port = HypercallPort::default();
        let mut out = Vec::new();
        let input = Script(vec![Input::Byte(b'q'), Input::NotYet, Input::Ended].into());
        port.call(Hypercall::Putchar(b'H'), &mut out, &input).unwrap();
        assert_eq!(out, b"H");
        assert_eq!(port.read(), 0, "an IN without GETCHAR reads 0");
        for expected in [b'q', NOTHING_YET, END_OF_INPUT] {
            port.call(Hypercall::Getchar, &mut out, &input).unwrap();
            assert_eq!(port.read(), expected);
        }
        assert!(matches!(port.call(Hypercall::Exit, &mut out, &input), Err(Ending::Halted)));
        assert!(matches!(
            port.call(Hypercall::ExitStatus(7), &mut out, &input),
            Err(Ending::Exit(7))
        ));
        let unknown = port.call(Hypercall::Unknown(9), &mut out, &input);
        assert!(matches!(unknown, Err(Ending::Fault(f)) if f.why == Why::UnknownHypercall(9)));
    }
}
