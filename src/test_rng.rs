//! A seeded pseudo-random generator for the property tests (xorshift64, Marsaglia 2003:
//! "Xorshift RNGs", J. Stat. Software 8(14)): the same sequence on every machine, so a
//! failure names its seed and reproduces. Test code only.

pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`, spread so that neighbouring seeds differ from the first draw
    /// (xorshift needs a non-zero state).
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A generator whose state is `state` itself (odd, so not zero).
    pub fn with_state(state: u64) -> Rng {
        Rng(state | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub fn byte(&mut self) -> u8 {
        self.next() as u8
    }
}
