//! Unit tests of the port-I/O and MMIO bus: which device answers which access.

use super::*;

/// Host input that has ended.
static NO_INPUT: Ended = Ended;

fn bus() -> Bus {
    Bus::new(&NO_INPUT)
}

#[test]
fn com1_comes_to_life_at_the_first_access() {
    let bus = bus();
    assert!(bus.com1_if_on().is_none());
    let mut data = [0u8];
    assert!(bus.port_in(COM1_BASE + 5, 1, &mut data)); // LSR
    assert_eq!(data[0] & 0x60, 0x60, "THRE and TEMT: the transmitter is empty");
    assert!(bus.com1_if_on().is_some());
}

#[test]
fn thr_writes_reach_the_sink_wide_and_repeated_ones_byte_by_byte() {
    let bus = bus();
    let mut out = Vec::new();
    assert_eq!(bus.port_out(COM1_BASE, 1, b"hi", &mut out).ok(), Some(true)); // rep outsb
    assert_eq!(out, b"hi");
    // A 16-bit out to 0x3F8 is a byte to THR and a byte to IER (0x3F9), as on an ISA bus.
    out.clear();
    assert_eq!(bus.port_out(COM1_BASE, 2, &[b'x', 0x00], &mut out).ok(), Some(true));
    assert_eq!(out, b"x");
    let mut ier = [0xAAu8];
    bus.port_in(COM1_BASE + 1, 1, &mut ier);
    assert_eq!(ier[0], 0);
}

#[test]
fn unclaimed_ports_read_all_ones_and_drop_writes() {
    let bus = bus();
    let mut out = Vec::new();
    assert_eq!(bus.port_out(0x80, 1, &[0x12], &mut out).ok(), Some(false));
    assert!(out.is_empty());
    let mut data = [0u8; 4];
    assert!(!bus.port_in(0x2F8, 4, &mut data));
    assert_eq!(data, [0xFF; 4]);
    // A wide access is claimed only if every byte is: 0x3FF is COM1's, 0x400 is no one's.
    let mut data = [0u8; 2];
    assert!(!bus.port_in(0x3FF, 2, &mut data));
    assert_eq!(data[1], 0xFF);
}

#[test]
fn a_port_past_0xffff_wraps_to_port_0_as_on_the_cpu() {
    let bus = bus();
    let mut data = [0u8; 4];
    assert!(!bus.port_in(0xFFFE, 4, &mut data));
    assert_eq!(data, [0xFF; 4]);
}

#[test]
fn a20_stays_on_whatever_is_written() {
    let bus = bus();
    let mut out = Vec::new();
    let mut a = [0u8];
    bus.port_in(PORT_SYSTEM_CONTROL_A, 1, &mut a);
    assert_eq!(a[0] & A20_ENABLED, A20_ENABLED);
    assert_eq!(bus.port_out(PORT_SYSTEM_CONTROL_A, 1, &[0x00], &mut out).ok(), Some(true));
    bus.port_in(PORT_SYSTEM_CONTROL_A, 1, &mut a);
    assert_eq!(a[0], A20_ENABLED);
}

#[test]
fn the_i8042_reset_command_powers_the_machine_off_and_others_are_unclaimed() {
    let bus = bus();
    let mut out = Vec::new();
    assert!(matches!(
        bus.port_out(PORT_I8042_COMMAND, 1, &[I8042_PULSE_RESET], &mut out),
        Err(Ending::Off(Off::I8042Reset))
    ));
    assert_eq!(bus.port_out(PORT_I8042_COMMAND, 1, &[0xAD], &mut out).ok(), Some(false));
    let mut status = [0u8];
    assert!(!bus.port_in(PORT_I8042_COMMAND, 1, &mut status));
    assert_eq!(status[0], 0xFF, "no controller, as Linux's i8042 driver sees it");
}

/// An MMIO device of one page at 0x1000 that remembers the last store.
struct Page(Mutex<Vec<u8>>);

impl MmioDevice for Page {
    fn read(&self, addr: u64, data: &mut [u8]) -> bool {
        let ours = (0x1000..0x2000).contains(&addr);
        if ours {
            data.fill(0x5A);
        }
        ours
    }
    fn write(&self, addr: u64, data: &[u8]) -> bool {
        let ours = (0x1000..0x2000).contains(&addr);
        if ours {
            *self.0.lock().expect("test lock") = data.to_vec();
        }
        ours
    }
}

#[test]
fn mmio_goes_to_the_device_that_claims_it_else_reads_all_ones() {
    let mut bus = bus();
    let mut data = [0u8; 4];
    assert!(!bus.mmio_read(0x1000, &mut data));
    assert_eq!(data, [0xFF; 4]);
    let page = Arc::new(Page(Mutex::new(Vec::new())));
    bus.add_mmio(page.clone());
    assert!(bus.mmio_read(0x1004, &mut data));
    assert_eq!(data, [0x5A; 4]);
    assert!(bus.mmio_write(0x1008, &[1, 2]));
    assert_eq!(*page.0.lock().expect("test lock"), [1, 2]);
    assert!(!bus.mmio_write(0x3000, &[3]));
    assert!(!bus.mmio_read(0xFEE0_0000, &mut data));
    assert_eq!(data, [0xFF; 4]);
}
