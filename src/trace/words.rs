//! What the devices did during one exit, in words: the middle of a `--trace` line.
//!
//! Devices record small typed events ([`DeviceEvent`], devices/mod.rs) and never format text;
//! this is the one place that says them, so the words a student reads in a trace are all here.

use super::byte_text;
use crate::devices::hypercall::Hypercall;
use crate::devices::{unclaimed_port_name, DeviceEvent};
use std::fmt::Write as _;

/// The events of one exit, joined with "; ".
pub fn describe(events: &[DeviceEvent]) -> String {
    let mut text = String::new();
    for event in events {
        if !text.is_empty() {
            text.push_str("; ");
        }
        say(&mut text, event);
    }
    text
}

fn say(n: &mut String, event: &DeviceEvent) {
    let _ = match event {
        DeviceEvent::UartWrite { register, value } => {
            let _ = write!(n, "write {register} = {value:#04x}");
            if *register == "THR" {
                let _ = write!(n, " {}", byte_text(*value));
            }
            Ok(())
        }
        DeviceEvent::UartRead { register, value } => {
            let _ = write!(n, "read {register} = {value:#04x}");
            let bits = crate::devices::com1::describe_register(register, *value);
            if !bits.is_empty() {
                let _ = write!(n, " ({bits})");
            }
            Ok(())
        }
        DeviceEvent::SystemControlA => write!(n, "System Control Port A (A20 stays on)"),
        DeviceEvent::I8042Reset => write!(n, "i8042 command 0xFE: pulse the reset line"),
        DeviceEvent::NoDevice { port, write: true } => write!(
            n,
            "no device ({}): write ignored",
            unclaimed_port_name(*port)
        ),
        DeviceEvent::NoDevice { port, write: false } => write!(
            n,
            "no device ({}): reads all ones",
            unclaimed_port_name(*port)
        ),
        DeviceEvent::NoMemory { write: true } => write!(n, "no device: write dropped"),
        DeviceEvent::NoMemory { write: false } => write!(n, "no device: reads all ones"),
        DeviceEvent::Hypercall(call) => match call {
            Hypercall::Putchar(b) => write!(n, "hypercall PUTCHAR {}", byte_text(*b)),
            Hypercall::ExitStatus(s) => write!(n, "hypercall EXIT_STATUS {s}"),
            Hypercall::Unknown(x) => write!(n, "unknown hypercall {x:#04x}"),
            other => write!(n, "hypercall {}", other.name()),
        },
        DeviceEvent::Getchar(byte) => write!(n, "-> {}", byte_text(*byte)),
        DeviceEvent::HypercallResult(value) => {
            write!(n, "hypercall result {}", byte_text(*value))
        }
        DeviceEvent::HighRamSlot(Ok(())) => {
            write!(n, "RAM above 4 GiB, first access: its memory slot added")
        }
        DeviceEvent::HighRamSlot(Err(e)) => write!(n, "RAM above 4 GiB: {e}"),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_read_as_the_trace_shows_them() {
        let events = [
            DeviceEvent::UartRead {
                register: "LSR",
                value: 0x60,
            },
            DeviceEvent::UartWrite {
                register: "THR",
                value: b'H',
            },
            DeviceEvent::Hypercall(Hypercall::Putchar(b'\n')),
            DeviceEvent::NoDevice {
                port: 0x70,
                write: false,
            },
        ];
        assert_eq!(
            describe(&events),
            "read LSR = 0x60 (THRE TEMT); write THR = 0x48 'H'; hypercall PUTCHAR '\\n'; \
             no device (CMOS RTC): reads all ones"
        );
        assert_eq!(describe(&[]), "");
    }
}
