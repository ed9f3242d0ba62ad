//! Property tests for the packet reader: any byte sequence (noise, cut-off packets, wild
//! escapes, endless payloads) never panics and never yields a payload over MAX_PACKET, and
//! every well-formed packet survives any noise before it. Seeded (xorshift).

use super::*;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn byte(&mut self) -> u8 {
        // Biased towards the bytes the protocol gives a meaning to.
        match self.next() % 4 {
            0 => [b'$', b'#', b'}', b'*', b'+', b'-', 0x03, b'0', b'f'][(self.next() % 9) as usize],
            _ => self.next() as u8,
        }
    }
}

#[test]
fn any_bytes_never_panic_and_never_exceed_the_limit() {
    for seed in 1..=200u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1);
        let mut reader = PacketReader::new();
        let len = if seed % 20 == 0 { 3 * MAX_PACKET } else { 2000 };
        for _ in 0..len {
            if let Some(Event::Packet(p)) = reader.feed(rng.byte()) {
                assert!(p.len() <= MAX_PACKET, "seed {seed}");
            }
        }
        assert!(
            reader.payload.len() <= MAX_PACKET,
            "seed {seed}: the buffer is bounded"
        );
    }
}

#[test]
fn a_well_formed_packet_survives_any_noise_before_it() {
    for seed in 1..=300u64 {
        let mut rng = Rng(seed | 1);
        let payload: Vec<u8> = (0..rng.next() % 300).map(|_| rng.byte()).collect();
        let mut reader = PacketReader::new();
        // Noise that ends cleanly: a complete bad packet or plain bytes, then a lone '#'-free
        // gap, so the reader is between packets when ours starts (a '$' would restart anyway).
        for _ in 0..rng.next() % 50 {
            let _ = reader.feed(rng.byte());
        }
        let mut got = None;
        for b in encode_packet(&payload) {
            if let Some(Event::Packet(p)) = reader.feed(b) {
                got = Some(p);
            }
        }
        assert_eq!(got, Some(payload), "seed {seed}");
    }
}
