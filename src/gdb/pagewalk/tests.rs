//! Unit tests for pagewalk.rs, on a fake physical memory.
use super::*;
use std::collections::HashMap;

/// Physical memory as a map of 8-byte entries; anything else is outside RAM.
#[derive(Default)]
struct Fake(HashMap<u64, u64>);

impl PhysRead for Fake {
    fn read_u64(&self, gpa: u64) -> Option<u64> {
        self.0.get(&gpa).copied()
    }
    fn read_u32(&self, gpa: u64) -> Option<u32> {
        self.0.get(&gpa).map(|&v| v as u32)
    }
}

const P: u64 = 1;
const RW: u64 = 2;
const U: u64 = 4;
const PS: u64 = 0x80;
const LONG: Paging = Paging::Long { levels: 4 };

/// 4-level tables at 0x1000 (PML4), 0x2000, 0x3000, 0x4000 mapping linear 0x400000 to
/// physical 0x9000, with `flags` at each level (PML4, PDPT, PD, PT).
fn four_level(flags: [u64; 4]) -> Fake {
    let mut m = Fake::default();
    m.0.insert(0x1000, 0x2000 | flags[0]);
    m.0.insert(0x2000, 0x3000 | flags[1]);
    m.0.insert(0x3000 + 2 * 8, 0x4000 | flags[2]); // 0x400000 >> 21 = 2
    m.0.insert(0x4000, 0x9000 | flags[3]);
    m
}

#[test]
fn user_only_when_every_level_says_user() {
    let all = four_level([P | RW | U; 4]);
    assert_eq!(walk(&all, LONG, 0x1000, 0x400123), Ok(Walk { physical: 0x9123, user: true }));
    for level in 0..4 {
        let mut flags = [P | RW | U; 4];
        flags[level] = P | RW;
        let m = four_level(flags);
        let w = walk(&m, LONG, 0x1000, 0x400123).unwrap();
        assert!(!w.user, "U/S clear at level {level} makes it a supervisor page");
        assert_eq!(w.physical, 0x9123);
    }
}

#[test]
fn not_present_and_outside_ram_are_errors_naming_the_level() {
    let mut m = four_level([P | U, P | U, P | U, U]);
    let e = walk(&m, LONG, 0x1000, 0x400000).unwrap_err();
    assert!(e.contains("page-table entry not present"), "{e}");
    m.0.insert(0x1000, 0x7000 | P | U);
    let e = walk(&m, LONG, 0x1000, 0x400000).unwrap_err();
    assert!(e.contains("outside guest RAM"), "{e}");
    let e = walk(&Fake::default(), LONG, 0x1000, 0).unwrap_err();
    assert!(e.contains("0x1000"), "{e}");
}

#[test]
fn large_pages_end_the_walk() {
    // A 2 MiB page in the PD (kernel, no U/S there) and a 1 GiB page in the PDPT (user).
    let mut m = Fake::default();
    m.0.insert(0x1000, 0x2000 | P | U);
    m.0.insert(0x2000, 0x3000 | P | U);
    m.0.insert(0x3000, 0x0020_0000 | P | PS);
    let w = walk(&m, LONG, 0x1000, 0x12345).unwrap();
    assert_eq!((w.physical, w.user), (0x0021_2345, false));
    m.0.insert(0x2000 + 8, 0x8000_0000 | P | U | PS);
    let w = walk(&m, LONG, 0x1000, 0x4000_1234).unwrap();
    assert_eq!((w.physical, w.user), (0x8000_1234, true));
}

#[test]
fn thirty_two_bit_and_pae_walks() {
    let mut m = Fake::default();
    // 32-bit: PD at 0x1000, entry 1 (linear 0x400000) -> PT 0x2000, entry 0 -> 0x5000.
    m.0.insert(0x1004, 0x2000 | P | U);
    m.0.insert(0x2000, 0x5000 | P | U);
    let w = walk(&m, Paging::Bits32 { pse: false }, 0x1000, 0x400abc).unwrap();
    assert_eq!((w.physical, w.user), (0x5abc, true));
    // A 4 MiB page only with PSE.
    m.0.insert(0x1008, 0x0080_0000 | P | PS);
    let w = walk(&m, Paging::Bits32 { pse: true }, 0x1000, 0x0081_0000).unwrap();
    assert_eq!((w.physical, w.user), (0x0081_0000, false));
    // PAE: the PDPTE has no U/S bit; PD and PT decide.
    let mut m = Fake::default();
    m.0.insert(0x1000, 0x2000 | P);
    m.0.insert(0x2000 + 2 * 8, 0x3000 | P | U);
    m.0.insert(0x3000, 0x6000 | P | U);
    let w = walk(&m, Paging::Pae, 0x1000, 0x400010).unwrap();
    assert_eq!((w.physical, w.user), (0x6010, true));
}

#[test]
fn no_paging_is_identity_and_supervisor() {
    let w = walk(&Fake::default(), Paging::Off, 0, 0x7c00).unwrap();
    assert_eq!((w.physical, w.user), (0x7c00, false));
}
