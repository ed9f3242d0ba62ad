//! Property tests for the packet reader: any byte sequence (noise, cut-off packets, wild
//! escapes, endless payloads) never panics and never yields a payload over MAX_PACKET, and
//! every well-formed packet survives any noise before it. Seeded (xorshift).

use super::*;

use crate::test_rng::Rng;

/// A byte biased towards the ones the protocol gives a meaning to.
fn noisy_byte(rng: &mut Rng) -> u8 {
    match rng.next() % 4 {
        0 => [b'$', b'#', b'}', b'*', b'+', b'-', 0x03, b'0', b'f'][(rng.next() % 9) as usize],
        _ => rng.next() as u8,
    }
}

#[test]
fn any_bytes_never_panic_and_never_exceed_the_limit() {
    for seed in 1..=200u64 {
        let mut rng = Rng::new(seed);
        let mut reader = PacketReader::new();
        let len = if seed % 20 == 0 { 3 * MAX_PACKET } else { 2000 };
        for _ in 0..len {
            if let Some(Event::Packet(p)) = reader.feed(noisy_byte(&mut rng)) {
                assert!(p.len() <= MAX_PACKET, "seed {seed}");
            }
        }
        assert!(reader.payload.len() <= MAX_PACKET, "seed {seed}: the buffer is bounded");
    }
}

#[test]
fn a_well_formed_packet_survives_any_noise_before_it() {
    for seed in 1..=300u64 {
        let mut rng = Rng::with_state(seed);
        let payload: Vec<u8> = (0..rng.next() % 300).map(|_| noisy_byte(&mut rng)).collect();
        let mut reader = PacketReader::new();
        // Noise that ends cleanly: a complete bad packet or plain bytes, then a lone '#'-free
        // gap, so the reader is between packets when ours starts (a '$' would restart anyway).
        for _ in 0..rng.next() % 50 {
            let _ = reader.feed(noisy_byte(&mut rng));
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
