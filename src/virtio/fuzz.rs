//! The virtqueue fuzzer: hostile drivers against the block device, at unit level.
//!
//! Each case is one seed of the xorshift generator (test_rng.rs): guest RAM filled with random
//! bytes, a queue of a random size at random (mostly aligned, sometimes out-of-RAM) addresses,
//! descriptors whose addresses, lengths, flags and `next` links are random but biased towards
//! the interesting values (the end of RAM, zero, loops, INDIRECT), an available index anywhere
//! relative to the device's, request headers of every type with sectors at and past the end of
//! a random image (sometimes read-only, sometimes not a whole number of sectors), and in a third
//! of the cases a second "vCPU" that rewrites descriptors and headers while the device reads
//! them. After every request the fuzzer checks that:
//!
//! - nothing panicked and every call returned (work per call is bounded by the queue size);
//! - the device wrote guest RAM only inside the device-writable buffers of the chain it copied
//!   and the used ring, and for a malformed request only the used ring;
//! - the chain it acted on obeys the rules it enforces (no more descriptors than the queue, no
//!   INDIRECT, every buffer inside RAM, readable before writable);
//! - the used ring names a head inside the table;
//! - the image was never written outside its size, nor at all when read-only (the `Vec` disk
//!   checks every write as it arrives).
//!
//! `cargo test virtio` runs a fixed set of seeds in about a second;
//! `FUZZ_SECONDS=60 cargo test --bin mini-kvm virtio_fuzz_for_a_while -- --ignored` (as `make
//! fuzz` does) runs fresh ones for a minute, and `VIRTIO_FUZZ_SEED=N` repeats one case. The
//! hostile-guest suite drives the real device with a hostile driver (tests/hostile.rs).

use super::blk::{Blk, VIRTIO_BLK_T_FLUSH, VIRTIO_BLK_T_GET_ID, VIRTIO_BLK_T_IN, VIRTIO_BLK_T_OUT};
use super::queue::{
    QueueConfig, SplitQueue, VIRTQ_DESC_F_INDIRECT, VIRTQ_DESC_F_NEXT, VIRTQ_DESC_F_WRITE,
};
use super::testing::{VecDisk, VecRam};
use super::{in_ram, GuestRam};
use crate::test_rng::Rng;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Cases in the default run.
const CASES: u64 = 1500;

/// A number from `choices`, or (one time in `1 + choices.len()`) a random one below `below`.
pub(super) fn pick(rng: &mut Rng, choices: &[u64], below: u64) -> u64 {
    let k = rng.next() % (choices.len() as u64 + 1);
    match choices.get(k as usize) {
        Some(&c) => c,
        None => rng.next() % below.max(1),
    }
}

/// A random address: mostly inside RAM, sometimes at its very end or beyond.
fn address(rng: &mut Rng, ram: u64) -> u64 {
    match rng.next() % 10 {
        0 => ram - rng.next() % 64,
        1 => pick(rng, &[0, ram, u64::MAX - 7, 1 << 32], u64::MAX),
        _ => rng.next() % ram,
    }
}

struct Case {
    mem: VecRam,
    queue: SplitQueue,
    blk: Blk<VecDisk>,
    config: QueueConfig,
}

/// Writes descriptor `i` of the table at `table` (if it is in RAM).
fn put_desc(mem: &VecRam, table: u64, i: u64, addr: u64, len: u32, flags: u16, next: u16) {
    let at = table.wrapping_add(16 * i);
    let mut d = [0u8; 16];
    d[..8].copy_from_slice(&addr.to_le_bytes());
    d[8..12].copy_from_slice(&len.to_le_bytes());
    d[12..14].copy_from_slice(&flags.to_le_bytes());
    d[14..].copy_from_slice(&next.to_le_bytes());
    if in_ram(mem, at, 16) {
        mem.poke(at, &d);
    }
}

fn poke_u16(mem: &VecRam, at: u64, v: u16) {
    if in_ram(mem, at, 2) {
        mem.poke_u16(at, v);
    }
}

/// A request as a driver would build it, its buffers from `heap` up: the header (sometimes
/// split), data (in one to three buffers), the status byte (sometimes sharing the last data
/// buffer). Returns the buffers as (address, length, device-writable).
fn request(rng: &mut Rng, mem: &VecRam, heap: &mut u64, sectors: u64) -> Vec<(u64, u32, bool)> {
    let ram = mem.size();
    let kind = pick(
        rng,
        &[
            u64::from(VIRTIO_BLK_T_IN),
            u64::from(VIRTIO_BLK_T_IN),
            u64::from(VIRTIO_BLK_T_OUT),
            u64::from(VIRTIO_BLK_T_OUT),
            u64::from(VIRTIO_BLK_T_FLUSH),
            u64::from(VIRTIO_BLK_T_GET_ID),
        ],
        1 << 32,
    ) as u32;
    let sector = pick(
        rng,
        &[0, 0, 1, sectors.saturating_sub(1), sectors, u64::MAX, u64::MAX / 512],
        sectors + 2,
    );
    let data_len = match kind {
        VIRTIO_BLK_T_FLUSH => pick(rng, &[0, 0, 0], 600),
        VIRTIO_BLK_T_GET_ID => pick(rng, &[20, 20, 19, 64], 64),
        _ => pick(rng, &[512, 512, 1024, 4096, 0, 511], 8 * 512),
    };
    let alloc = |rng: &mut Rng, heap: &mut u64, len: u64| {
        let at = *heap;
        *heap += len + rng.next() % 8;
        if *heap > ram {
            *heap = ram / 2;
        }
        at
    };
    let mut header = [0u8; 16];
    header[..4].copy_from_slice(&kind.to_le_bytes());
    header[8..].copy_from_slice(&sector.to_le_bytes());
    let mut bufs = Vec::new();
    let split = if rng.next().is_multiple_of(4) { rng.next() % 16 } else { 16 };
    for (from, to) in [(0, split), (split, 16)] {
        if to > from {
            let at = alloc(rng, heap, to - from);
            if in_ram(mem, at, to - from) {
                mem.poke(at, &header[from as usize..to as usize]);
            }
            bufs.push((at, (to - from) as u32, false));
        }
    }
    let writable = kind != VIRTIO_BLK_T_OUT;
    let pieces = 1 + rng.next() % 3;
    let mut left = data_len;
    for p in 0..pieces {
        let n = if p + 1 == pieces { left } else { rng.next() % (left + 1) };
        left -= n;
        if n > 0 {
            bufs.push((alloc(rng, heap, n), n as u32, writable));
        }
    }
    match bufs.last_mut() {
        Some(last) if writable && rng.next().is_multiple_of(4) => last.1 += 1,
        _ => bufs.push((alloc(rng, heap, 1), 1, true)),
    }
    bufs
}

/// Breaks something the way a buggy or hostile driver would.
fn mutate(rng: &mut Rng, mem: &VecRam, config: &QueueConfig) {
    let n = u64::from(config.size);
    let ram = mem.size();
    let i = rng.next() % n;
    let desc = config.desc_table.wrapping_add(16 * i);
    let field = |off: u64| desc.wrapping_add(off);
    match rng.next() % 9 {
        0 => {
            let a = address(rng, ram);
            if in_ram(mem, field(0), 8) {
                mem.poke(field(0), &a.to_le_bytes());
            }
        }
        1 => {
            let len = pick(rng, &[0, 1, 15, 1 << 31, u64::from(u32::MAX)], 1 << 32) as u32;
            if in_ram(mem, field(8), 4) {
                mem.poke(field(8), &len.to_le_bytes());
            }
        }
        2 => {
            let flags = pick(
                rng,
                &[
                    u64::from(VIRTQ_DESC_F_INDIRECT),
                    u64::from(VIRTQ_DESC_F_NEXT),
                    u64::from(VIRTQ_DESC_F_WRITE),
                    0,
                ],
                1 << 16,
            );
            poke_u16(mem, field(12), flags as u16);
        }
        3 => poke_u16(mem, field(14), pick(rng, &[i, 0, n, i + 1], 1 << 16) as u16),
        4 => {
            let idx = mem.peek_u16_or(config.avail_ring.wrapping_add(2), 0);
            let jump = pick(rng, &[1, n, n + 1, 0x8000], 1 << 16) as u16;
            poke_u16(mem, config.avail_ring.wrapping_add(2), idx.wrapping_add(jump));
        }
        5 => {
            let slot = rng.next() % n;
            let head = pick(rng, &[n, n - 1, 0], 1 << 16) as u16;
            poke_u16(mem, config.avail_ring.wrapping_add(4 + 2 * slot), head);
        }
        6 => {
            // A header's type or sector, through the descriptor that points at it.
            let mut a = [0u8; 8];
            if in_ram(mem, field(0), 8) {
                a.copy_from_slice(&mem.peek(field(0), 8));
            }
            let at = u64::from_le_bytes(a).wrapping_add(if rng.next().is_multiple_of(2) {
                0
            } else {
                8
            });
            let v = pick(rng, &[u64::MAX, 1, 4, 8], u64::MAX);
            if in_ram(mem, at, 8) {
                mem.poke(at, &v.to_le_bytes());
            }
        }
        7 => poke_u16(mem, config.avail_ring, (rng.next() % 2) as u16),
        _ => {
            let at = rng.next() % ram;
            mem.poke(at, &[rng.byte()]);
        }
    }
}

fn make_case(seed: u64) -> Case {
    let mut rng = Rng::new(seed);
    let ram = 0x4000 + (rng.next() % 8) * 0x2000;
    let mut mem = VecRam::new(ram as usize);
    mem.randomize(&mut rng);
    let size = 1u16 << (rng.next() % 9); // 1 to 256
    let n = u64::from(size);
    // The three areas one after the other from a random start, each sometimes anywhere.
    let mut at = (rng.next() % (ram / 4)) & !15;
    let mut area = |rng: &mut Rng, align: u64, len: u64| {
        let here =
            if rng.next().is_multiple_of(16) { address(rng, ram) & !(align - 1) } else { at };
        at = (at + len).next_multiple_of(16);
        here
    };
    let config = QueueConfig {
        size,
        desc_table: area(&mut rng, 16, 16 * n),
        avail_ring: area(&mut rng, 2, 6 + 2 * n),
        used_ring: area(&mut rng, 4, 6 + 8 * n),
    };
    let mut heap = at;
    // The image.
    let sectors = rng.next() % 64;
    let image_len = sectors * 512 + if rng.next().is_multiple_of(4) { rng.next() % 512 } else { 0 };
    let read_only = rng.next().is_multiple_of(3);
    // The device's counters start anywhere; the driver adds requests from there.
    let start = rng.next() as u16;
    poke_u16(&mem, config.used_ring.wrapping_add(2), start);
    poke_u16(&mem, config.avail_ring, 0);
    let mut next_desc = 0u64;
    let mut published = 0u16;
    for _ in 0..1 + rng.next() % 8 {
        let bufs = request(&mut rng, &mem, &mut heap, sectors);
        if next_desc + bufs.len() as u64 > n {
            break;
        }
        let head = next_desc;
        for (k, &(addr, len, writable)) in bufs.iter().enumerate() {
            let i = next_desc + k as u64;
            let last = k + 1 == bufs.len();
            let flags = if writable { VIRTQ_DESC_F_WRITE } else { 0 }
                | if last { 0 } else { VIRTQ_DESC_F_NEXT };
            put_desc(&mem, config.desc_table, i, addr, len, flags, (i + 1) as u16);
        }
        next_desc += bufs.len() as u64;
        let slot = u64::from(start.wrapping_add(published) % size);
        poke_u16(&mem, config.avail_ring.wrapping_add(4 + 2 * slot), head as u16);
        published += 1;
    }
    poke_u16(&mem, config.avail_ring.wrapping_add(2), start.wrapping_add(published));
    for _ in 0..pick(&mut rng, &[0, 0, 0, 1, 1, 2, 5], 20) {
        mutate(&mut rng, &mem, &config);
    }
    if rng.next().is_multiple_of(3) {
        // The other vCPU rewrites memory (descriptors, headers, rings) while the device reads.
        mem.meddle(seed ^ 0x5EED, 0, ram, 2 + rng.next() % 8);
    }
    let disk = VecDisk::new(vec![0xD5; image_len as usize], read_only);
    let mut blk = Blk::new(disk, image_len, read_only, "fuzz");
    if rng.next().is_multiple_of(2) {
        blk.activate(blk.device_features());
    }
    Case { mem, queue: SplitQueue::starting_at(config, start), blk, config }
}

fn inside(gpa: u64, len: usize, ranges: &[(u64, u64)]) -> bool {
    let end = gpa.saturating_add(len as u64);
    ranges.iter().any(|&(s, e)| gpa >= s && end <= e)
}

/// What the cases reached, summed: the default run must reach every kind of outcome.
#[derive(Debug, Default, Clone, Copy)]
struct Reached {
    served: u64,
    read_bytes: u64,
    written_bytes: u64,
    flushes: u64,
    io_errors: u64,
    unsupported: u64,
    malformed: u64,
    queue_errors: u64,
    meddled: u64,
}

thread_local! {
    static REACHED: std::cell::Cell<Reached> = std::cell::Cell::new(Reached::default());
}

fn run_case(seed: u64) {
    let mut c = make_case(seed);
    let mut queue_error = false;
    let n = u64::from(c.config.size);
    let used = c.config.used_ring;
    let used_ring = (used.saturating_add(2), used.saturating_add(4 + 8 * n));
    let ram = c.mem.size();
    // More calls than the queue could ever hold: the device must stop on its own.
    for step in 0..(2 * n + 4) {
        c.mem.clear_logs();
        let malformed = c.blk.stats().malformed;
        match c.blk.serve_one(&mut c.queue, &c.mem) {
            Ok(false) => break,
            Err(_) => {
                queue_error = true;
                break;
            }
            Ok(true) => {}
        }
        let at = || format!("seed {seed} step {step}");
        let chain = c.blk.last_chain();
        let mut allowed = vec![used_ring];
        if c.blk.stats().malformed == malformed {
            let d = chain.descriptors();
            assert!(d.len() <= usize::from(c.config.size), "{}", at());
            let mut seen_writable = false;
            for x in d {
                assert_eq!(x.flags & VIRTQ_DESC_F_INDIRECT, 0, "{}", at());
                assert!(in_ram(&c.mem, x.addr, u64::from(x.len)), "{}", at());
                assert!(!seen_writable || x.is_writable(), "{}", at());
                seen_writable |= x.is_writable();
                if x.is_writable() {
                    allowed.push((x.addr, x.addr + u64::from(x.len)));
                }
            }
        }
        for &(gpa, len) in c.mem.writes.borrow().iter() {
            assert!(
                inside(gpa, len, &allowed),
                "{}: wrote {gpa:#x}+{len:#x}, allowed {allowed:x?}",
                at()
            );
            assert!(gpa + len as u64 <= ram);
        }
        let (_, next_used) = c.queue.indices();
        let slot = u64::from(next_used.wrapping_sub(1) % c.config.size);
        let id = c.mem.peek_u32(c.config.used_ring + 4 + 8 * slot);
        assert!(id < u32::from(c.config.size), "{}: used id {id}", at());
        assert_eq!(c.mem.peek_u16(c.config.used_ring + 2), next_used, "{}", at());
    }
    // process_queue too, from wherever serve_one left the queue: bounded by the queue size.
    if let Ok(done) = c.blk.process_queue(&mut c.queue, &c.mem) {
        assert!(done.completed <= u32::from(c.config.size), "seed {seed}");
    }
    let st = c.blk.stats();
    REACHED.with(|r| {
        let mut x = r.get();
        x.served += st.requests;
        x.read_bytes += st.read_bytes;
        x.written_bytes += st.written_bytes;
        x.flushes += st.flushes;
        x.io_errors += st.io_errors;
        x.unsupported += st.unsupported;
        x.malformed += st.malformed;
        x.queue_errors += u64::from(queue_error);
        x.meddled += u64::from(c.mem.meddled());
        r.set(x);
    });
}

/// Runs `case` for each seed, naming the seed of the one that fails.
pub(super) fn run_seeds(seeds: impl Iterator<Item = u64>, case: fn(u64)) -> u64 {
    let mut n = 0;
    for seed in seeds {
        if catch_unwind(AssertUnwindSafe(|| case(seed))).is_err() {
            panic!("virtio fuzz case {seed} failed (VIRTIO_FUZZ_SEED={seed} repeats it)");
        }
        n += 1;
    }
    n
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|s| s.parse().ok())
}

#[test]
fn hostile_queues_never_hurt_the_host() {
    let seeds: Box<dyn Iterator<Item = u64>> = match env_u64("VIRTIO_FUZZ_SEED") {
        Some(seed) => Box::new(std::iter::once(seed)),
        None => Box::new(1..=CASES),
    };
    let single = env_u64("VIRTIO_FUZZ_SEED").is_some();
    let cases = run_seeds(seeds, run_case);
    let r = REACHED.with(|r| r.get());
    eprintln!("{cases} cases: {r:?}");
    if !single {
        // The default seeds reach every outcome, so the checks above checked something.
        let each = [
            r.read_bytes,
            r.written_bytes,
            r.flushes,
            r.io_errors,
            r.unsupported,
            r.malformed,
            r.queue_errors,
            r.meddled,
        ];
        assert!(each.iter().all(|&n| n > 0), "{r:?}");
    }
}

#[test]
#[ignore = "a longer run: FUZZ_SECONDS (default 60)"]
fn virtio_fuzz_for_a_while() {
    let seconds = env_u64("FUZZ_SECONDS").unwrap_or(60);
    let first = env_u64("FUZZ_SEED").unwrap_or_else(|| {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(1, |d| d.as_secs())
            * 1_000_000
    });
    eprintln!("virtio fuzzing for {seconds} s from seed {first}");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
    let mut seed = first;
    let mut runs = 0;
    while std::time::Instant::now() < until {
        runs += run_seeds(seed..seed + 100, run_case);
        runs += run_seeds(seed..seed + 10, super::mmio::props::run_transport_case);
        seed += 100;
    }
    eprintln!("{runs} cases, no failure");
}
