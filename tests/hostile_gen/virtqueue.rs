//! The virtqueue fuzzer's cases: scripts for tests/guests/disk_fuzz.asm, a hostile virtio-blk
//! driver (its header says how a script is laid out), with a disk image to run them on.
//!
//! A script sets the queue up (its size, its three areas: mostly where a driver would put them,
//! sometimes misaligned, outside RAM or on the device itself), lays out requests as a driver
//! would (header, data, status, of every type, at and past the end of the disk), then breaks
//! some of it (a descriptor's address, length, flags or `next`; a head outside the table; a
//! header's type or sector) and drives it in rounds: each stores one u16 in the arena (the
//! available index, or anywhere), notifies, spins while flipping arena bytes (as a second vCPU
//! would), acknowledges interrupts, or sets the device up again first.

use super::Rng;

/// Where mini-kvm loads a Multiboot kernel of the address-field kind (multiboot64.inc).
const LOAD: u64 = 0x10_0000;
/// The script header and the rounds, then the arena.
const SCRIPT: usize = 4096;
const ARENA: usize = 0x1_0000;
const ROUNDS: usize = 64;
/// The arena's layout, as a driver would choose it.
const DESC: usize = 0;
const AVAIL: usize = 0x1000;
const USED: usize = 0x2000;
const HEADERS: usize = 0x3000;
const STATUS: usize = 0x3800;
const DATA: usize = 0x4000;

/// One run of the fuzzer: the kernel (the template with its script), the disk, how to run it.
pub struct DiskCase {
    pub kernel: Vec<u8>,
    pub disk: Vec<u8>,
    pub read_only: bool,
    /// Without ioeventfd and irqfd (MINI_KVM_TEST_DISK_FALLBACK=1).
    pub fallback: bool,
}

/// One of `choices` or, as often as each of them, any number.
fn any(rng: &mut Rng, choices: &[u64]) -> u64 {
    let any = rng.next();
    choices.get(rng.below(choices.len() as u64 + 1) as usize).copied().unwrap_or(any)
}

fn put(b: &mut [u8], at: usize, bytes: &[u8]) {
    b[at..at + bytes.len()].copy_from_slice(bytes);
}

/// A descriptor (virtio 1.2, 2.7.5) into the arena's table at `index`.
fn desc(arena: &mut [u8], index: usize, addr: u64, len: u32, flags: u16, next: u16) {
    let at = DESC + 16 * (index % 256);
    put(arena, at, &addr.to_le_bytes());
    put(arena, at + 8, &len.to_le_bytes());
    put(arena, at + 12, &flags.to_le_bytes());
    put(arena, at + 14, &next.to_le_bytes());
}

/// A case for `template` (the assembled disk_fuzz, whose script goes at its end).
pub fn case(rng: &mut Rng, template: &[u8]) -> DiskCase {
    let blob = LOAD + template.len() as u64;
    let base = blob + SCRIPT as u64;
    let mut script = vec![0u8; SCRIPT];
    let mut arena: Vec<u8> = (0..ARENA).map(|_| rng.byte()).collect();
    arena[..DATA].fill(0);

    // One case in four breaks one part of the setup (the device refuses it, or later finds
    // the rings outside RAM or misaligned); the others get a running queue.
    let broken = if rng.below(4) == 0 { rng.below(8) } else { u64::MAX };
    let size = match broken {
        0 => rng.below(0x1_0000) as u16,
        _ => rng.pick(&[1u16, 2, 4, 8, 16, 32, 128, 256]),
    };
    let num = if broken == 1 { rng.next() as u32 } else { u32::from(size) };
    let area = |rng: &mut Rng, offset: usize, bad: bool| match (bad, rng.below(3)) {
        (true, 0) => rng.pick(&[0u64, 32 << 20, (32 << 20) - 8, 0xD000_0000, u64::MAX - 7]),
        (true, 1) => base + offset as u64 + 1 + rng.below(15),
        (true, _) => rng.next(),
        (false, _) => base + offset as u64,
    };
    let (d, a, u) =
        (area(rng, DESC, broken == 2), area(rng, AVAIL, broken == 3), area(rng, USED, broken == 4));
    let read_only = rng.below(4) == 0;
    let ro = if read_only { 0x20 } else { 0 };
    let low = if broken == 5 { any(rng, &[0x20, 0x220]) } else { 0x200 | ro } as u32;
    let high = if broken == 6 { any(rng, &[0]) } else { 1 } as u32;
    let ready = if broken == 7 { any(rng, &[0]) } else { 1 } as u32;
    let rounds = 1 + rng.below(8) as usize;
    put(&mut script, 0, &num.to_le_bytes());
    put(&mut script, 4, &low.to_le_bytes());
    put(&mut script, 8, &high.to_le_bytes());
    put(&mut script, 12, &(rounds as u32).to_le_bytes());
    put(&mut script, 16, &d.to_le_bytes());
    put(&mut script, 24, &a.to_le_bytes());
    put(&mut script, 32, &u.to_le_bytes());
    put(&mut script, 40, &ready.to_le_bytes());

    let sectors = rng.below(65);
    let requests = 1 + rng.below(u64::from(size.clamp(1, 16))) as usize;
    let mut next_desc = 0usize;
    let mut data = DATA;
    for i in 0..requests {
        let kind = any(rng, &[0, 0, 1, 1, 4, 8]) as u32;
        let sector = match rng.below(6) {
            0 => sectors.saturating_sub(1),
            1 => sectors,
            2 => sectors + 1,
            3 => rng.pick(&[u64::MAX, u64::MAX / 512, 1 << 40]),
            _ => rng.below(sectors.max(1)),
        };
        let header = HEADERS + 16 * i;
        put(&mut arena, header, &kind.to_le_bytes());
        put(&mut arena, header + 8, &sector.to_le_bytes());
        let head = next_desc;
        let writable = if kind == 0 || kind == 8 { 2 } else { 0 };
        desc(&mut arena, next_desc, base + header as u64, 16, 1, (next_desc + 1) as u16);
        next_desc += 1;
        for _ in 0..rng.below(4) {
            let len = (any(rng, &[512, 512, 1024, 4096, 0, 100, 20]) % 0x2000) as u32;
            let len = len.min((ARENA - data) as u32);
            desc(
                &mut arena,
                next_desc,
                base + data as u64,
                len,
                writable | 1,
                (next_desc + 1) as u16,
            );
            data = (data + len as usize).min(ARENA - 1);
            next_desc += 1;
        }
        desc(&mut arena, next_desc, base + (STATUS + i) as u64, 1, 2, 0);
        next_desc += 1;
        let slot = AVAIL + 4 + 2 * (i % usize::from(size.max(1)));
        put(&mut arena, slot, &((head % 0x1_0000) as u16).to_le_bytes());
    }
    // Half the cases a driver's mistake or two, half a flood of them.
    let mutations = if rng.below(2) == 0 { rng.below(2) } else { rng.below(8) };
    for _ in 0..mutations {
        let index = rng.below(next_desc as u64) as usize;
        let at = DESC + 16 * (index % 256);
        match rng.below(24) {
            0 | 6 | 12 | 18 => {
                let addr = any(rng, &[u64::MAX, 32 << 20, 0xD000_0000]);
                put(&mut arena, at, &addr.to_le_bytes());
            }
            1 | 7 | 13 | 19 => {
                let len = any(rng, &[u32::MAX.into(), 0]) as u32;
                put(&mut arena, at + 8, &len.to_le_bytes());
            }
            2 | 8 | 14 | 20 => {
                let flags = any(rng, &[4, 7, 3, 1]) as u16; // INDIRECT, all, ...
                put(&mut arena, at + 12, &flags.to_le_bytes());
            }
            3 | 9 | 15 | 21 => {
                let next = any(rng, &[index as u64, 0, size.into()]) as u16; // a loop, ...
                put(&mut arena, at + 14, &next.to_le_bytes());
            }
            4 => {
                let head = any(rng, &[size.into(), u16::MAX.into()]) as u16;
                put(&mut arena, AVAIL + 4, &head.to_le_bytes());
            }
            _ => {
                let header = HEADERS + 16 * rng.below(requests as u64) as usize;
                let bytes = rng.next().to_le_bytes();
                put(&mut arena, header, &bytes);
            }
        }
    }
    let mut published = 0u16;
    for r in 0..rounds {
        let record = 64 + 16 * r;
        // Mostly the same chains made available again (the device takes them as new requests,
        // and the rings wrap); sometimes the index jumps, or a store lands anywhere in the
        // tables (a descriptor, a ring entry, the used ring) between two notifies.
        let (offset, value) = match (r, rng.below(8)) {
            (_, 0) => (AVAIL + 2, rng.next() as u16),
            (1.., 1 | 2) => (rng.below(USED as u64 + 0x100) as usize, rng.next() as u16),
            _ => {
                published = published.wrapping_add(requests as u16);
                (AVAIL + 2, published)
            }
        };
        let notify = any(rng, &[0, 0, 0, 1]) as u16;
        // 1: set the device up again first, 2: flip bytes while spinning, 4: acknowledge.
        let (again, meddle, ack) = (rng.below(8) == 0, rng.below(3) == 0, rng.below(3) == 0);
        let flags = u32::from(again) | (u32::from(meddle) << 1) | (u32::from(ack) << 2);
        put(&mut script, record, &(offset as u32).to_le_bytes());
        put(&mut script, record + 4, &value.to_le_bytes());
        put(&mut script, record + 6, &notify.to_le_bytes());
        put(&mut script, record + 8, &(rng.below(0x400) as u32).to_le_bytes());
        put(&mut script, record + 12, &flags.to_le_bytes());
    }
    const _: () = assert!(64 + 16 * ROUNDS <= SCRIPT);
    let mut kernel = template.to_vec();
    kernel.extend_from_slice(&script);
    kernel.extend_from_slice(&arena);
    let disk = (0..sectors * 512).map(|_| rng.byte()).collect();
    DiskCase { kernel, disk, read_only, fallback: rng.below(4) == 0 }
}
