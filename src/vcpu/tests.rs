//! Unit tests for vcpu.rs (kept apart so the module reads on its own).
use super::*;
use crate::console::{GuestOutput, HostInput, OutputSink};
use crate::devices::com1::Com1;
use crate::devices::Accesses;
use crate::kvm::ExitRegs;
use std::io::Write;
use std::sync::Mutex;

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);
impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn machine(input: &[u8]) -> (Devices, VcpuIo<GuestOutput>, Capture) {
    let cap = Capture::default();
    let sink = Arc::new(OutputSink::new(Box::new(cap.clone()), false, false));
    let host_input = HostInput::new();
    host_input.push(input);
    host_input.end();
    let devices = Devices::new(Com1::new(
        Arc::clone(&host_input) as Arc<dyn crate::devices::ByteSource>
    ));
    let io = VcpuIo::new(GuestOutput::new(sink, 0), host_input);
    (devices, io, cap)
}

fn regs(al: u8, bl: u8) -> kvm_regs {
    kvm_regs {
        rax: 0x1234_5600 | u64::from(al),
        rbx: 0xABCD_EF00 | u64::from(bl),
        ..Default::default()
    }
}

fn out(
    port: u16,
    data: &[u8],
    r: &kvm_regs,
    d: &Devices,
    io: &mut VcpuIo<GuestOutput>,
) -> ExitAction {
    let exit = VmExit::IoOut {
        port,
        size: 1,
        data,
        regs: ExitRegs::Synced(r),
    };
    handle_exit(exit, d, io)
}

#[test]
fn putchar_then_exit_status() {
    let (d, mut io, cap) = machine(b"");
    for &c in b"Hi" {
        assert_eq!(
            out(0x500, &[1], &regs(1, c), &d, &mut io),
            ExitAction::Continue
        );
    }
    assert_eq!(
        out(0x500, &[3], &regs(3, 7), &d, &mut io),
        ExitAction::Stop(Stop::Exit(7))
    );
    assert_eq!(
        out(0x500, &[0], &regs(0, 0), &d, &mut io),
        ExitAction::Stop(Stop::Halted)
    );
    io.output.finish().unwrap();
    io.output.drain();
    assert_eq!(&*cap.0.lock().unwrap(), b"Hi");
}

#[test]
fn unknown_hypercall_is_a_guest_fault_naming_the_number() {
    let (d, mut io, _) = machine(b"");
    match out(0x500, &[0x7F], &regs(0x7F, 0), &d, &mut io) {
        ExitAction::Stop(Stop::GuestFault(why)) => assert!(why.contains("0x7f"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn getchar_returns_bytes_then_eot() {
    let (d, mut io, _) = machine(b"q");
    let mut got = Vec::new();
    for _ in 0..2 {
        out(0x500, &[2], &regs(2, 0), &d, &mut io);
        let mut data = [0u8; 1];
        let exit = VmExit::IoIn {
            port: 0x500,
            size: 1,
            data: &mut data,
        };
        assert_eq!(handle_exit(exit, &d, &mut io), ExitAction::Continue);
        got.push(data[0]);
    }
    assert_eq!(got, vec![b'q', 0x04]);
}

#[test]
fn uart_thr_and_string_io_reach_the_output() {
    let (d, mut io, cap) = machine(b"");
    // `rep outsb` of three bytes to THR arrives as one exit with count 3.
    let r = regs(0, 0);
    assert_eq!(out(0x3F8, b"abc", &r, &d, &mut io), ExitAction::Continue);
    // A 16-bit `out dx, ax` to THR: AL to 0x3F8, AH to 0x3F9 (IER), as on an ISA bus.
    let exit = VmExit::IoOut {
        port: 0x3F8,
        size: 2,
        data: &[b'd', 0],
        regs: ExitRegs::Synced(&r),
    };
    assert_eq!(handle_exit(exit, &d, &mut io), ExitAction::Continue);
    io.output.finish().unwrap();
    io.output.drain();
    assert_eq!(&*cap.0.lock().unwrap(), b"abcd");
}

#[test]
fn unclaimed_ports_and_mmio_read_all_ones_and_are_counted() {
    let (d, mut io, _) = machine(b"");
    let mut data = [0u8; 4];
    let exit = VmExit::IoIn {
        port: 0x1234,
        size: 2,
        data: &mut data[..2],
    };
    handle_exit(exit, &d, &mut io);
    assert_eq!(&data[..2], &[0xFF, 0xFF]);
    assert_eq!(
        io.unclaimed_ports.get(&0x1234),
        Some(&Accesses {
            reads: 1,
            writes: 0
        })
    );
    let mut mmio = [0u8; 4];
    let exit = VmExit::MmioRead {
        addr: 0xFFFF0,
        data: &mut mmio,
    };
    handle_exit(exit, &d, &mut io);
    assert_eq!(mmio, [0xFF; 4]);
    handle_exit(
        VmExit::MmioWrite {
            addr: 1,
            data: &[1],
        },
        &d,
        &mut io,
    );
    assert_eq!(
        io.unclaimed_mmio,
        Accesses {
            reads: 1,
            writes: 1
        }
    );
}

#[test]
fn port_0x92_keeps_a20_on() {
    let (d, mut io, _) = machine(b"");
    out(0x92, &[0x00], &regs(0, 0), &d, &mut io);
    let mut data = [0u8; 1];
    handle_exit(
        VmExit::IoIn {
            port: 0x92,
            size: 1,
            data: &mut data,
        },
        &d,
        &mut io,
    );
    assert_eq!(data[0] & 0x02, 0x02);
}

#[test]
fn faults_and_kicks() {
    let (d, mut io, _) = machine(b"");
    assert_eq!(
        handle_exit(VmExit::Hlt, &d, &mut io),
        ExitAction::Stop(Stop::Halted)
    );
    assert_eq!(
        handle_exit(VmExit::Interrupted, &d, &mut io),
        ExitAction::Kicked
    );
    for exit in [
        VmExit::Shutdown,
        VmExit::FailEntry {
            reason: 0x21,
            cpu: 1,
        },
        VmExit::InternalError {
            suberror: 1,
            data: &[],
        },
        VmExit::Other(99),
    ] {
        let name = format!("{exit:?}");
        match handle_exit(exit, &d, &mut io) {
            ExitAction::Stop(Stop::GuestFault(why)) => {
                assert!(why.contains("KVM_EXIT"), "{why}")
            }
            other => panic!("{name}: {other:?}"),
        }
    }
}

#[test]
fn a_wide_access_is_counted_under_the_port_the_guest_named() {
    // `out dx, eax` with DX = 0x4FE covers ports 0x4FE-0x501: it is one unclaimed access to
    // 0x4FE, not a stray access to 0x500 (which would look like a broken hypercall).
    let (d, mut io, _) = machine(b"");
    let r = regs(0, 0);
    let exit = VmExit::IoOut {
        port: 0x4FE,
        size: 4,
        data: &[1, 2, 3, 4],
        regs: ExitRegs::Synced(&r),
    };
    assert_eq!(handle_exit(exit, &d, &mut io), ExitAction::Continue);
    assert_eq!(
        io.unclaimed_ports.get(&0x4FE),
        Some(&Accesses {
            reads: 0,
            writes: 1
        })
    );
    assert_eq!(io.unclaimed_ports.len(), 1);
}

#[test]
fn resets_end_the_run_and_a_triple_fault_is_one_for_an_os_kernel() {
    let (d, mut io, _) = machine(b"");
    let r = regs(0, 0);
    // The i8042 answers as absent, except for its reset command.
    assert_eq!(out(0x64, &[0xAE], &r, &d, &mut io), ExitAction::Continue);
    assert_eq!(
        out(0x64, &[0xFE], &r, &d, &mut io),
        ExitAction::Stop(Stop::MachineOff(RESET_I8042))
    );
    assert!(matches!(
        handle_exit(VmExit::Shutdown, &d, &mut io),
        ExitAction::Stop(Stop::GuestFault(_))
    ));
    io.triple_fault_resets = true;
    assert_eq!(
        handle_exit(VmExit::Shutdown, &d, &mut io),
        ExitAction::Stop(Stop::MachineOff(RESET_TRIPLE_FAULT))
    );
    assert_eq!(crate::devices::unclaimed_port_name(0x71), "CMOS RTC");
    assert_eq!(
        crate::devices::unclaimed_port_name(0xCFC),
        "PCI configuration"
    );
    assert_eq!(crate::devices::unclaimed_port_name(0x4D1), "PIC ELCR");
}
