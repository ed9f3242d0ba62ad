//! Framing of the gdb remote serial protocol: `$payload#cc`, acks, escapes, Ctrl-C.
//!
//! Reference: gdb manual, appendix E "Remote Protocol", E.1 "Overview": a packet is `$`, the
//! payload, `#` and two hex digits of the payload's byte sum modulo 256; the receiver answers
//! `+` (good) or `-` (send it again) until QStartNoAckMode. Inside a payload `}` escapes the
//! next byte (XOR 0x20), which is how `$`, `#`, `}` and `*` travel. A lone 0x03 outside a packet
//! is an interrupt request (Ctrl-C in gdb).
//!
//! [`PacketReader`] is a byte-at-a-time state machine, so garbage, split reads and oversized
//! input are all just states: it never panics and never buffers more than [`MAX_PACKET`].

/// The largest payload accepted (and advertised as PacketSize).
pub const MAX_PACKET: usize = 16 * 1024;

/// What the bytes received so far add up to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A packet whose checksum matched, escapes decoded.
    Packet(Vec<u8>),
    /// A packet whose checksum did not match (answer `-`).
    BadChecksum,
    /// A packet longer than MAX_PACKET (dropped; answer `-`).
    TooLong,
    /// 0x03 outside a packet: stop the target.
    Interrupt,
    Ack,
    Nack,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum State {
    /// Between packets: looking for `$`, `+`, `-` or 0x03.
    #[default]
    Idle,
    Payload,
    /// After `}`: the next byte is escaped.
    Escape,
    /// After `#`: the first checksum digit.
    Check1,
    /// The second checksum digit; holds the first.
    Check2(u8),
}

#[derive(Debug, Default)]
pub struct PacketReader {
    state: State,
    payload: Vec<u8>,
    /// Sum of the bytes as sent (escapes included), as the checksum covers them.
    sum: u8,
    overflow: bool,
}

fn hex_digit(b: u8) -> Option<u8> {
    (b as char).to_digit(16).map(|d| d as u8)
}

impl PacketReader {
    pub fn new() -> PacketReader {
        PacketReader::default()
    }

    /// Begins a new packet after `$`, forgetting any unfinished one.
    fn start(&mut self) {
        self.payload.clear();
        self.sum = 0;
        self.overflow = false;
        self.state = State::Payload;
    }

    /// Feeds one received byte; returns what it completes, if anything.
    pub fn feed(&mut self, byte: u8) -> Option<Event> {
        match self.state {
            // `$` starts a packet; inside one (or where a checksum digit belongs) it means the
            // sender gave up on that packet and starts a new one.
            _ if byte == b'$' => {
                self.start();
                None
            }
            State::Idle => between_packets(byte),
            State::Payload if byte == b'#' => {
                self.state = State::Check1;
                None
            }
            State::Payload | State::Escape => {
                self.payload_byte(byte);
                None
            }
            State::Check1 => match hex_digit(byte) {
                Some(d) => {
                    self.state = State::Check2(d);
                    None
                }
                None => {
                    self.state = State::Idle;
                    Some(Event::BadChecksum)
                }
            },
            State::Check2(high) => {
                self.state = State::Idle;
                Some(self.finish(high, byte))
            }
        }
    }

    /// One byte of payload: summed as sent (the checksum covers the escapes), stored unescaped
    /// (`}` then the byte XOR 0x20), and only up to [`MAX_PACKET`]: a longer packet is
    /// remembered as too long rather than grown without bound.
    fn payload_byte(&mut self, byte: u8) {
        self.sum = self.sum.wrapping_add(byte);
        let (value, next) = match (self.state, byte) {
            (State::Payload, b'}') => (None, State::Escape),
            (State::Escape, b) => (Some(b ^ 0x20), State::Payload),
            (_, b) => (Some(b), State::Payload),
        };
        self.state = next;
        if let Some(v) = value {
            if self.payload.len() < MAX_PACKET {
                self.payload.push(v);
            } else {
                self.overflow = true;
            }
        }
    }

    /// The second checksum digit `low` ends the packet: it is delivered only if it fit and its
    /// checksum (`high`, `low`) matches.
    fn finish(&mut self, high: u8, low: u8) -> Event {
        let Some(low) = hex_digit(low) else { return Event::BadChecksum };
        if self.overflow {
            return Event::TooLong;
        }
        if (high << 4 | low) != self.sum {
            return Event::BadChecksum;
        }
        Event::Packet(std::mem::take(&mut self.payload))
    }
}

/// A byte between packets other than `$`: an ack, a nack or an interrupt (0x03) is an event of
/// its own; noise between packets is ignored.
fn between_packets(byte: u8) -> Option<Event> {
    match byte {
        b'+' => Some(Event::Ack),
        b'-' => Some(Event::Nack),
        0x03 => Some(Event::Interrupt),
        _ => None,
    }
}

/// The checksum of a payload as sent.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b))
}

/// Frames a payload: `$`, the payload with `$ # } *` escaped, `#`, checksum.
pub fn encode_packet(payload: &[u8]) -> Vec<u8> {
    let mut packet = vec![b'$'];
    for &b in payload {
        match b {
            b'$' | b'#' | b'}' | b'*' => packet.extend([b'}', b ^ 0x20]),
            _ => packet.push(b),
        }
    }
    let sum = checksum(&packet[1..]);
    packet.extend(format!("#{sum:02x}").as_bytes());
    packet
}

/// Bytes as lower-case hex, two digits each.
pub fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex pairs back to bytes; None on an odd length or a non-hex digit.
pub fn hex_decode(text: &[u8]) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    text.chunks(2).map(|p| Some(hex_digit(p[0])? << 4 | hex_digit(p[1])?)).collect()
}

/// A little-endian value (as registers travel in `g`/`p`/`P`); bytes past the eighth are
/// ignored, missing ones are zero.
pub fn from_le(bytes: &[u8]) -> u64 {
    bytes.iter().take(8).rev().fold(0, |v, &b| v << 8 | u64::from(b))
}

/// A hex number (big-endian text, as in `m1000,4`); None if empty, too long or not hex.
pub fn parse_hex(text: &[u8]) -> Option<u64> {
    if text.is_empty() || text.len() > 16 {
        return None;
    }
    text.iter().try_fold(0u64, |v, &b| Some(v << 4 | u64::from(hex_digit(b)?)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(reader: &mut PacketReader, bytes: &[u8]) -> Vec<Event> {
        bytes.iter().filter_map(|&b| reader.feed(b)).collect()
    }

    #[test]
    fn packets_acks_and_interrupts() {
        let mut r = PacketReader::new();
        assert_eq!(
            feed_all(&mut r, b"+$g#67-\x03noise$?#3f"),
            vec![
                Event::Ack,
                Event::Packet(b"g".to_vec()),
                Event::Nack,
                Event::Interrupt,
                Event::Packet(b"?".to_vec()),
            ]
        );
    }

    #[test]
    fn checksums_are_verified() {
        let mut r = PacketReader::new();
        assert_eq!(feed_all(&mut r, b"$g#68"), vec![Event::BadChecksum]);
        assert_eq!(feed_all(&mut r, b"$g#zz"), vec![Event::BadChecksum]);
        assert_eq!(feed_all(&mut r, b"$g#6"), vec![]);
        assert_eq!(feed_all(&mut r, b"7"), vec![Event::Packet(b"g".to_vec())]);
    }

    #[test]
    fn escapes_round_trip_through_encode() {
        let payload = b"a$b#c}d*e".to_vec();
        let framed = encode_packet(&payload);
        assert_eq!(&framed[..3], b"$a}");
        let mut r = PacketReader::new();
        assert_eq!(feed_all(&mut r, &framed), vec![Event::Packet(payload)]);
        assert_eq!(encode_packet(b"OK"), b"$OK#9a".to_vec());
        // '*' must be escaped too: in a reply gdb reads it as run-length encoding.
        assert_eq!(encode_packet(b"1*"), b"$1}\n#b8".to_vec());
        assert_eq!(encode_packet(b""), b"$#00".to_vec());
    }

    #[test]
    fn a_packet_cut_off_by_a_new_one_is_dropped() {
        let mut r = PacketReader::new();
        assert_eq!(feed_all(&mut r, b"$m100$g#67"), vec![Event::Packet(b"g".to_vec())]);
    }

    #[test]
    fn a_dollar_in_the_checksum_starts_over() {
        let mut r = PacketReader::new();
        assert_eq!(feed_all(&mut r, b"$m0,4#$g#67"), vec![Event::Packet(b"g".to_vec())]);
        assert_eq!(feed_all(&mut r, b"$m0,4#6$g#67"), vec![Event::Packet(b"g".to_vec())]);
    }

    #[test]
    fn inside_a_packet_control_bytes_are_data() {
        // 0x03, '+' and '-' only mean something between packets; the checksum covers them.
        let payload = b"X0,3:\x03+-".to_vec();
        let framed = encode_packet(&payload);
        let mut r = PacketReader::new();
        assert_eq!(feed_all(&mut r, &framed), vec![Event::Packet(payload)]);
    }

    #[test]
    fn the_checksum_covers_the_escaped_form() {
        // "}]" is the escape of '}' (0x7d ^ 0x20 = 0x5d): the sum is over '}' and ']'.
        let sum = u32::from(b'}') + u32::from(b']');
        let framed = format!("$}}]#{:02x}", sum % 256);
        let mut r = PacketReader::new();
        assert_eq!(feed_all(&mut r, framed.as_bytes()), vec![Event::Packet(b"}".to_vec())]);
        // Upper-case checksum digits are accepted too.
        assert_eq!(feed_all(&mut r, b"$?#3F"), vec![Event::Packet(b"?".to_vec())]);
    }

    #[test]
    fn every_byte_value_survives_framing() {
        let payload: Vec<u8> = (0..=255).collect();
        let framed = encode_packet(&payload);
        // Between '$' and '#' no unescaped framing byte remains.
        let body = &framed[1..framed.len() - 3];
        assert!(!body.iter().any(|b| matches!(b, b'$' | b'#')));
        let mut r = PacketReader::new();
        assert_eq!(feed_all(&mut r, &framed), vec![Event::Packet(payload)]);
    }

    #[test]
    fn oversized_packets_are_refused_without_growing() {
        let mut r = PacketReader::new();
        let mut big = vec![b'$'];
        big.extend(std::iter::repeat_n(b'a', MAX_PACKET + 10));
        big.extend(b"#00");
        assert_eq!(feed_all(&mut r, &big), vec![Event::TooLong]);
        assert!(r.payload.capacity() <= MAX_PACKET * 2);
        assert_eq!(feed_all(&mut r, b"$g#67"), vec![Event::Packet(b"g".to_vec())]);
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut r = PacketReader::new();
        let mut seed = 0x9E37_79B9u32;
        for _ in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 17;
            seed ^= seed << 5;
            let _ = r.feed((seed >> 11) as u8);
        }
    }

    #[test]
    fn hex_helpers() {
        assert_eq!(hex_encode(&[0, 0xab, 0x10]), "00ab10");
        assert_eq!(hex_decode(b"00Ab10"), Some(vec![0, 0xab, 0x10]));
        assert_eq!(hex_decode(b"abc"), None);
        assert_eq!(hex_decode(b"zz"), None);
        assert_eq!(parse_hex(b"ffffffff80100000"), Some(0xffff_ffff_8010_0000));
        assert_eq!(parse_hex(b""), None);
        assert_eq!(parse_hex(b"10000000000000000"), None);
        assert_eq!(parse_hex(b"12g"), None);
        assert_eq!(parse_hex(b"-1"), None);
        assert_eq!(from_le(&[0x78, 0x56, 0x34, 0x12]), 0x1234_5678);
        assert_eq!(from_le(&[]), 0);
        assert_eq!(from_le(&[1, 0, 0, 0, 0, 0, 0, 0x80, 0xff, 0xff]), 0x8000_0000_0000_0001);
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(hex_decode(hex_encode(&all).as_bytes()), Some(all));
    }
}

#[cfg(test)]
mod props;
