//! Property tests for the UART model: any sequence of guest reads and writes (any register,
//! any value, DLAB on or off, loopback, FIFO resets) and host input leaves the 16550A in a
//! state its datasheet allows. Seeded (xorshift), so a failure names its seed and reproduces.

use super::*;

use crate::test_rng::Rng;

/// The invariants, checked on a copy so that reading LSR/MSR/IIR does not disturb the run.
fn check(u: &Uart, seed: u64, step: usize) {
    let at = || format!("seed {seed}, step {step}: {u:?}");
    assert!(u.rx.len() <= u.rx_capacity(), "{}", at());
    assert!(u.rx_room() + u.rx.len() == u.rx_capacity(), "{}", at());
    assert_eq!(u.ier & !0x0F, 0, "{}", at());
    assert_eq!(u.mcr & !0x1F, 0, "{}", at());
    let mut probe = u.clone();
    let lsr = probe.read(LSR);
    assert_eq!(lsr & LSR_DR != 0, !u.rx.is_empty(), "LSR.DR is 'a byte waits': {}", at());
    assert_eq!(lsr & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT, "{}", at());
    assert_eq!(probe.read(LSR) & LSR_OE, 0, "reading LSR clears OE: {}", at());
    let iir = u.clone().read(IIR_FCR);
    assert_eq!(iir & 0x30, 0, "IIR bits 4-5 read 0: {}", at());
    assert!(
        matches!(
            iir & 0x0F,
            IIR_NONE
                | IIR_LINE_STATUS
                | IIR_RX_DATA
                | IIR_RX_TIMEOUT
                | IIR_THR_EMPTY
                | IIR_MODEM_STATUS
        ),
        "IIR {iir:#x}: {}",
        at()
    );
    if u.irq_line() {
        assert_eq!(iir & 1, 0, "IRQ raised with nothing pending: {}", at());
        assert!(u.mcr & MCR_OUT2 != 0 && u.mcr & MCR_LOOP == 0, "{}", at());
    }
    let mut msr = u.clone();
    msr.read(MSR);
    assert_eq!(msr.read(MSR) & 0x0F, 0, "reading MSR clears the deltas: {}", at());
}

#[test]
fn any_register_sequence_keeps_the_uart_consistent() {
    for seed in 1..=300u64 {
        let mut rng = Rng::new(seed);
        let mut u = Uart::default();
        for step in 0..400 {
            let offset = rng.byte() % 9; // 8 is past the UART: reads 0xFF, writes vanish
            match rng.next() % 8 {
                0..=2 => {
                    let value = rng.byte();
                    let dlab = u.lcr & LCR_DLAB != 0;
                    let loopback = u.mcr & MCR_LOOP != 0;
                    let before = u.rx.len();
                    let sent = u.write(offset, value);
                    if offset == RBR_THR && !dlab && !loopback {
                        assert_eq!(sent, Some(value), "THR goes to the host");
                    } else {
                        assert_eq!(sent, None, "seed {seed} step {step}: only THR sends");
                    }
                    if offset == RBR_THR && !dlab && loopback {
                        // Loopback: the byte comes back, or overruns a full receiver.
                        let full = before == u.rx_capacity();
                        assert_eq!(u.rx.len(), if full { before } else { before + 1 });
                        if full {
                            assert_eq!(u.lsr_errors & LSR_OE, LSR_OE, "an overrun is flagged");
                        }
                    }
                    if offset == RBR_THR && dlab {
                        assert_eq!(u.clone().read(RBR_THR), value, "DLL reads back");
                    }
                }
                3..=4 => {
                    let read = u.read(offset);
                    if offset == 8 {
                        assert_eq!(read, 0xFF);
                    }
                }
                5 => {
                    let bytes: Vec<u8> = (0..rng.next() % 40).map(|_| rng.byte()).collect();
                    let room = u.rx_room();
                    let taken = u.receive(&bytes);
                    assert!(taken <= room && taken <= bytes.len());
                }
                6 => u.set_carrier(rng.next().is_multiple_of(2)),
                _ => {
                    // DLAB on and off, loopback on and off: the games a fuzzer likes.
                    let lcr = if rng.next().is_multiple_of(2) { 0x80 } else { 0x03 };
                    u.write(LCR, lcr);
                    u.write(MCR, rng.byte());
                }
            }
            check(&u, seed, step);
        }
    }
}

#[test]
fn bytes_received_come_out_in_order_and_none_beyond_the_fifo() {
    for seed in 1..=200u64 {
        let mut rng = Rng::with_state(seed);
        let mut u = Uart::default();
        u.write(IIR_FCR, 0x01); // FIFOs on
        let mut expected = std::collections::VecDeque::new();
        for _ in 0..200 {
            if rng.next().is_multiple_of(2) {
                let bytes: Vec<u8> = (0..rng.next() % 20).map(|_| rng.byte()).collect();
                let taken = u.receive(&bytes);
                expected.extend(&bytes[..taken]);
            } else if let Some(want) = expected.pop_front() {
                assert_eq!(u.read(LSR) & LSR_DR, LSR_DR);
                assert_eq!(u.read(RBR_THR), want, "seed {seed}");
            } else {
                assert_eq!(u.read(LSR) & LSR_DR, 0, "seed {seed}: nothing waits");
            }
            assert!(expected.len() <= RX_FIFO_SIZE);
        }
    }
}
