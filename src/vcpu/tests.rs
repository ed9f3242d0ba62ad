//! Unit tests for vcpu.rs: `handle_exit` fed made-up exits, with output into a Vec.
use super::*;
use crate::devices::Input;

/// Input from a script: the bytes, then its end.
struct Script(Mutex<Vec<u8>>);
impl ByteSource for Script {
    fn take(&self, buf: &mut [u8]) -> (usize, bool) {
        let mut bytes = self.0.lock().unwrap();
        let n = buf.len().min(bytes.len());
        buf[..n].copy_from_slice(&bytes[..n]);
        bytes.drain(..n);
        (n, bytes.is_empty())
    }
    fn pop(&self) -> Input {
        let mut bytes = self.0.lock().unwrap();
        if bytes.is_empty() {
            Input::Ended
        } else {
            Input::Byte(bytes.remove(0))
        }
    }
}

fn io(input: &[u8]) -> VcpuIo<Vec<u8>> {
    let input: &'static Script = Box::leak(Box::new(Script(Mutex::new(input.to_vec()))));
    let bus = Arc::new(Bus::new(input));
    VcpuIo { bus, out: Vec::new(), input, hypercall: Default::default(), claimed: true }
}

fn regs(al: u8, bl: u8) -> Option<kvm_regs> {
    Some(kvm_regs {
        rax: 0x1234_5600 | u64::from(al),
        rbx: 0xABCD_EF00 | u64::from(bl),
        ..Default::default()
    })
}

fn out(port: u16, size: u8, data: &mut [u8]) -> Exit {
    Exit::Io { out: true, port, size, count: (data.len() / usize::from(size)) as u32 }
}

fn hypercall(io: &mut VcpuIo<Vec<u8>>, al: u8, bl: u8) -> Result<Option<[u8; 8]>, Ending> {
    handle_exit(out(HYPERCALL_PORT, 1, &mut [al]), &mut [al], regs(al, bl), io)
}

#[test]
fn putchar_then_exit_status_then_exit() {
    let mut io = io(b"");
    for &c in b"Hi" {
        assert!(matches!(hypercall(&mut io, 1, c), Ok(None)));
    }
    assert_eq!(io.out, b"Hi");
    assert!(matches!(hypercall(&mut io, 3, 7), Err(Ending::Exit(7))));
    assert!(matches!(hypercall(&mut io, 0, 0), Err(Ending::Halted)));
    let unknown = hypercall(&mut io, 0x7F, 0);
    assert!(matches!(unknown, Err(Ending::Fault(f)) if f.why == Why::UnknownHypercall(0x7F)));
}

#[test]
fn getchar_then_in_returns_the_bytes_then_eot() {
    let mut io = io(b"q");
    let mut got = Vec::new();
    for _ in 0..2 {
        hypercall(&mut io, 2, 0).unwrap();
        let mut data = [0u8; 1];
        let exit = Exit::Io { out: false, port: HYPERCALL_PORT, size: 1, count: 1 };
        handle_exit(exit, &mut data, None, &mut io).unwrap();
        got.push(data[0]);
    }
    assert_eq!(got, [b'q', 0x04]);
}

#[test]
fn uart_thr_string_io_and_wide_accesses_reach_the_output() {
    let mut io = io(b"");
    // `rep outsb` of three bytes to THR: one exit with count 3.
    let mut abc = *b"abc";
    handle_exit(out(0x3F8, 1, &mut abc), &mut abc, None, &mut io).unwrap();
    // A 16-bit `out dx, ax` to THR: AL to 0x3F8, AH to 0x3F9 (IER), as on an ISA bus.
    let mut d0 = [b'd', 0];
    handle_exit(out(0x3F8, 2, &mut d0), &mut d0, None, &mut io).unwrap();
    assert_eq!(io.out, b"abcd");
    assert!(io.claimed);
}

#[test]
fn unclaimed_ports_and_mmio_read_all_ones_and_say_so() {
    let mut io = io(b"");
    let mut data = [0u8; 2];
    handle_exit(Exit::Io { out: false, port: 0x1234, size: 2, count: 1 }, &mut data, None, &mut io)
        .unwrap();
    assert_eq!((data, io.claimed), ([0xFF, 0xFF], false));
    let load = Exit::Mmio { addr: 0xD000_0000, len: 4, write: false, data: [0; 8] };
    let answer = handle_exit(load, &mut [], None, &mut io).unwrap();
    assert_eq!((answer, io.claimed), (Some([0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0]), false));
    let store = Exit::Mmio { addr: 0xD000_0000, len: 1, write: true, data: [1; 8] };
    assert!(matches!(handle_exit(store, &mut [], None, &mut io), Ok(None)));
    assert!(!io.claimed);
    // A word that straddles COM1's last port and an empty one is unclaimed.
    let mut two = [0u8; 2];
    handle_exit(Exit::Io { out: false, port: 0x3FF, size: 2, count: 1 }, &mut two, None, &mut io)
        .unwrap();
    assert!(!io.claimed);
}

#[test]
fn port_0x92_keeps_a20_on_and_0xfe_to_the_i8042_resets() {
    let mut io = io(b"");
    let mut zero = [0u8];
    handle_exit(out(0x92, 1, &mut zero), &mut zero, None, &mut io).unwrap();
    let mut data = [0u8];
    handle_exit(Exit::Io { out: false, port: 0x92, size: 1, count: 1 }, &mut data, None, &mut io)
        .unwrap();
    assert_eq!(data[0] & 0x02, 0x02);
    let mut other = [0xAE];
    assert!(handle_exit(out(0x64, 1, &mut other), &mut other, None, &mut io).is_ok());
    let mut reset = [0xFE];
    assert!(matches!(
        handle_exit(out(0x64, 1, &mut reset), &mut reset, None, &mut io),
        Err(Ending::Off(Off::I8042Reset))
    ));
}

#[test]
fn every_other_exit_ends_the_vcpu_as_its_kind_says() {
    let mut io = io(b"");
    let mut end = |exit| handle_exit(exit, &mut [], None, &mut io).err();
    assert!(end(Exit::Interrupted).is_none());
    assert!(matches!(end(Exit::Hlt), Some(Ending::Halted)));
    assert!(matches!(end(Exit::SystemEvent { kind: 1 }), Some(Ending::Halted)));
    assert!(matches!(end(Exit::SystemEvent { kind: 2 }), Some(Ending::Off(Off::SystemReset))));
    let fault = |e: Option<Ending>| match e {
        Some(Ending::Fault(f)) => f.why,
        other => panic!("{other:?}"),
    };
    assert_eq!(fault(end(Exit::Shutdown)), Why::TripleFault);
    assert_eq!(fault(end(Exit::SystemEvent { kind: 3 })), Why::Crash);
    assert_eq!(
        fault(end(Exit::FailEntry { reason: 0x21, cpu: 1 })),
        Why::FailEntry { reason: 0x21, cpu: 1 }
    );
    let internal = Exit::InternalError { suberror: 1, ndata: 2, data: [7; 16] };
    assert_eq!(fault(end(internal)), Why::Internal { suberror: 1, data: vec![7, 7] });
    assert_eq!(fault(end(Exit::Other(3))), Why::Unexpected("KVM_EXIT_HYPERCALL"));
    assert_eq!(fault(end(Exit::Debug { exception: 1, pc: 5 })), Why::Debug { exception: 1, pc: 5 });
    let malformed = end(Exit::Malformed { reason: 2, why: "data outside" });
    assert!(
        matches!(malformed, Some(Ending::Host(m)) if m == "malformed KVM_EXIT_IO from KVM: data outside")
    );
}

#[test]
fn the_first_stop_cause_is_kept_and_reports_wake_the_main_thread() {
    let (mut wake, tx) = std::io::pipe().unwrap();
    let control = Control::new(2, tx);
    assert!(!control.stop_requested() && control.cause().is_none());
    control.request_stop(None);
    assert!(control.stop_requested() && control.cause().is_none());
    control.request_stop(Some(Stop::Quit));
    control.request_stop(Some(Stop::Killed));
    assert_eq!(control.cause(), Some(Stop::Quit));
    control.report(Report {
        index: 1,
        name: "g".into(),
        ending: Ending::Halted,
        lines: vec![],
        vcpu: None,
    });
    let mut buf = [0u8; 8];
    assert!(std::io::Read::read(&mut wake, &mut buf).unwrap() >= 1);
    let reports = control.take_reports();
    assert_eq!((reports.len(), reports[0].index), (1, 1));
    assert!(control.take_reports().is_empty());
}
