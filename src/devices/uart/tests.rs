//! Unit tests for uart.rs (kept apart so the module reads on its own).
use super::*;

fn uart() -> Uart {
    Uart::default()
}

#[test]
fn reset_values() {
    let mut u = uart();
    assert_eq!(u.read(IER), 0x00, "IER");
    assert_eq!(u.read(IIR_FCR), 0x01, "IIR: no interrupt, FIFOs off");
    assert_eq!(u.read(LCR), 0x00, "LCR");
    assert_eq!(u.read(MCR), 0x00, "MCR");
    assert_eq!(u.read(LSR), 0x60, "LSR: THRE TEMT, never 0xFF");
    assert_eq!(u.read(MSR), 0xB0, "MSR: CTS DSR DCD");
    assert_eq!(u.read(SCR), 0x00, "SCR");
    assert_eq!(u.read(RBR_THR), 0x00, "RBR empty");
    assert_eq!(u.read(8), 0xFF, "no register 8");
    assert!(!u.irq_line());
}

#[test]
fn thr_bytes_leave_and_scr_stores() {
    let mut u = uart();
    assert_eq!(u.write(RBR_THR, b'A'), Some(b'A'));
    assert_eq!(u.read(LSR) & (LSR_THRE | LSR_TEMT), LSR_THRE | LSR_TEMT);
    assert_eq!(u.write(SCR, 0x5A), None);
    assert_eq!(u.read(SCR), 0x5A);
    assert_eq!(u.write(LSR, 0x00), None, "LSR is read-only");
    assert_eq!(u.read(LSR), 0x60);
    assert_eq!(u.write(MSR, 0x00), None);
    assert_eq!(u.read(MSR), 0xB0);
}

#[test]
fn dlab_switches_offsets_0_and_1_to_the_divisor_latch() {
    let mut u = uart();
    u.write(LCR, LCR_DLAB | 0x03);
    assert_eq!((u.read(0), u.read(1)), (1, 0), "reset divisor 1 (115200 baud)");
    assert_eq!(u.write(0, 12), None, "DLL, not THR");
    u.write(1, 0x00);
    assert_eq!(u.read(0), 12);
    u.write(LCR, 0x03);
    assert_eq!(u.read(LCR), 0x03);
    assert_eq!(u.read(IER), 0, "IER untouched by the DLM write");
    assert_eq!(u.write(0, b'x'), Some(b'x'), "THR again");
}

#[test]
fn receive_without_fifo_holds_one_byte() {
    let mut u = uart();
    assert_eq!(u.rx_room(), 1);
    assert_eq!(u.receive(b"ab"), 1, "flow control: only what fits");
    assert_eq!(u.read(LSR), 0x61);
    assert_eq!(u.read(RBR_THR), b'a');
    assert_eq!(u.read(LSR), 0x60);
}

#[test]
fn fifo_of_16_with_trigger_levels() {
    let mut u = uart();
    u.write(IIR_FCR, FCR_ENABLE | (2 << 6)); // trigger at 8
    assert_eq!(u.read(IIR_FCR) & 0xC0, 0xC0, "FIFOs reported enabled");
    u.write(IER, IER_ERBFI);
    u.write(MCR, MCR_OUT2);
    assert_eq!(u.receive(&[b'x'; 7]), 7);
    assert_eq!(u.read(IIR_FCR) & 0x0F, IIR_RX_TIMEOUT, "below trigger: timeout indication");
    u.receive(b"y");
    assert_eq!(u.read(IIR_FCR) & 0x0F, IIR_RX_DATA, "at trigger level");
    assert!(u.irq_line());
    assert_eq!(u.receive(&[0; 20]), 8, "16 at most");
    assert_eq!(u.rx_room(), 0);
    for _ in 0..16 {
        u.read(RBR_THR);
    }
    assert_eq!(u.read(IIR_FCR) & 0x0F, IIR_NONE);
    assert!(!u.irq_line());
    for (bits, level) in [(0u8, 1usize), (1, 4), (2, 8), (3, 14)] {
        u.write(IIR_FCR, FCR_ENABLE | (bits << 6));
        assert_eq!(u.trigger_level(), level);
    }
    u.receive(b"abc");
    u.write(IIR_FCR, FCR_ENABLE | FCR_CLEAR_RX);
    assert_eq!(u.read(LSR) & LSR_DR, 0, "FCR bit 1 clears the receive FIFO");
}

#[test]
fn overflow_sets_oe_until_lsr_is_read() {
    let mut u = uart();
    u.write(MCR, MCR_LOOP | MCR_OUT2);
    u.write(IER, IER_ELSI);
    u.write(RBR_THR, 1);
    u.write(RBR_THR, 2); // no FIFO: the second byte overruns
    assert_eq!(u.read(IIR_FCR) & 0x0F, IIR_LINE_STATUS);
    assert_eq!(u.read(LSR), LSR_DR | LSR_OE | LSR_THRE | LSR_TEMT);
    assert_eq!(u.read(LSR) & LSR_OE, 0, "cleared by the read");
    assert_eq!(u.read(RBR_THR), 1, "the first byte survived");
}

#[test]
fn loopback_returns_thr_bytes_and_mirrors_mcr_into_msr() {
    let mut u = uart();
    u.read(MSR);
    u.write(MCR, MCR_LOOP);
    assert_eq!(u.read(MSR), MSR_DCTS | MSR_DDSR | MSR_DDCD, "lines fell: deltas");
    u.write(IIR_FCR, FCR_ENABLE);
    assert_eq!(u.write(RBR_THR, b'L'), None, "nothing leaves in loopback");
    assert_eq!(u.read(RBR_THR), b'L');
    u.write(MCR, MCR_LOOP | MCR_RTS | MCR_DTR | MCR_OUT1 | MCR_OUT2);
    assert_eq!(u.read(MSR), 0xF0 | MSR_DCTS | MSR_DDSR | MSR_DDCD);
    u.write(MCR, MCR_LOOP);
    assert_eq!(u.read(MSR) & MSR_TERI, MSR_TERI, "RI trailing edge");
    u.write(IER, IER_ETBEI);
    u.write(MCR, MCR_LOOP | MCR_OUT2);
    assert!(!u.irq_line(), "the interrupt output is internal in loopback");
}

#[test]
fn iir_priorities_follow_the_datasheet() {
    let mut u = uart();
    u.write(MCR, MCR_OUT2);
    u.write(IER, IER_ERBFI | IER_ETBEI | IER_ELSI | IER_EDSSI);
    // THR empty is pending at once (ETBEI enabled with THR empty).
    u.set_carrier(false); // modem status pending too
    assert_eq!(u.read(IIR_FCR) & 0x0F, IIR_THR_EMPTY, "THRE above modem status");
    assert_eq!(u.read(IIR_FCR) & 0x0F, IIR_MODEM_STATUS, "IIR read cleared THRE");
    u.receive(b"r");
    assert_eq!(u.read(IIR_FCR) & 0x0F, IIR_RX_DATA, "received data above modem status");
    // Force an overrun through loopback with no FIFO: line status beats everything.
    u.write(MCR, MCR_LOOP | MCR_OUT2);
    u.write(RBR_THR, b'z');
    assert_eq!(u.read(IIR_FCR) & 0x0F, IIR_LINE_STATUS);
    u.read(LSR);
    assert_eq!(u.read(IIR_FCR) & 0x0F, IIR_RX_DATA);
    u.read(RBR_THR);
    assert_eq!(u.read(IIR_FCR) & 0x0F, IIR_THR_EMPTY, "the THR write re-armed THRE");
    u.read(MSR);
    assert_eq!(u.read(IIR_FCR) & 0x0F, IIR_NONE);
}

#[test]
fn out2_gates_the_interrupt_line() {
    let mut u = uart();
    u.write(IER, IER_ERBFI);
    u.receive(b"k");
    assert!(!u.irq_line(), "OUT2 clear: the PIC sees nothing");
    u.write(MCR, MCR_OUT2);
    assert!(u.irq_line());
    assert_eq!(u.ier, IER_ERBFI);
}

#[test]
fn carrier_loss_drops_dcd_with_its_delta() {
    let mut u = uart();
    u.write(IER, IER_EDSSI);
    u.write(MCR, MCR_OUT2);
    u.set_carrier(false);
    assert!(u.irq_line());
    assert_eq!(u.read(MSR), MSR_CTS | MSR_DSR | MSR_DDCD);
    assert!(!u.irq_line(), "reading MSR clears the delta");
    assert_eq!(u.read(MSR), MSR_CTS | MSR_DSR);
    u.set_carrier(true);
    assert_eq!(u.read(MSR), 0xB0 | MSR_DDCD);
}

#[test]
fn no_sequence_of_accesses_panics() {
    let mut u = uart();
    let mut seed = 0x2545_F491u32;
    for _ in 0..100_000 {
        seed ^= seed << 13;
        seed ^= seed >> 17;
        seed ^= seed << 5;
        let offset = (seed % 9) as u8;
        let value = (seed >> 8) as u8;
        match (seed >> 16) % 5 {
            0 => {
                u.read(offset);
            }
            1 => {
                u.write(offset, value);
            }
            2 => {
                u.receive(&[value; 5]);
            }
            3 => u.set_carrier(value & 1 == 0),
            _ => {
                let _ = u.irq_line();
            }
        }
        assert!(u.rx.len() <= RX_FIFO_SIZE);
        assert_ne!(u.clone().read(LSR), 0xFF);
    }
}
