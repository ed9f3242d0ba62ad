//! Bounded loading: sizes are checked from the files' metadata before
//! anything is read, and fresh guest RAM is never zeroed again. The memory figures come from
//! getrusage(RUSAGE_CHILDREN): the largest RSS of any child this test binary has waited for.
//! Every child here must stay small, so the bound holds for each of them.

mod common;

use common::{run_input, run_with, HANG_GUARD};
use nix::sys::resource::{getrusage, UsageWho};
use std::path::PathBuf;

/// The bound the issue sets for refusing a 2 GiB module.
const RSS_LIMIT_KIB: i64 = 50 * 1024;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("mini-kvm-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sparse(path: &PathBuf, size: u64) {
    std::fs::File::create(path).unwrap().set_len(size).unwrap();
}

fn children_max_rss_kib() -> i64 {
    getrusage(UsageWho::RUSAGE_CHILDREN).expect("getrusage works").max_rss()
}

fn run(args: &[&str]) -> common::Run {
    run_with(args, b"", &[], HANG_GUARD)
}

#[test]
fn a_2_gib_module_is_refused_before_it_is_read() {
    let dir = scratch("module");
    let module = dir.join("huge.mod");
    sparse(&module, 2 << 30);
    let m = module.to_str().unwrap();
    let r = run(&["--module", m, "os-1k"]);
    eprintln!("2 GiB module refused in {:?}", r.elapsed);
    assert_eq!(r.status, 3, "{}", r.stderr);
    common::assert_one_line(&r, &[m, "2147483648 bytes", "33554432 bytes of guest RAM"]);
    // Three of them with --mem 3G: each fits alone, the sum does not; refused as quickly.
    let r = run(&["--mem", "3G", "--module", m, "--module", m, "--module", m, "os-1k"]);
    eprintln!("3 x 2 GiB modules, --mem 3G, refused in {:?}", r.elapsed);
    assert_eq!(r.status, 3, "{}", r.stderr);
    common::assert_one_line(&r, &[m, "3221225472 bytes of guest RAM"]);
    let rss = children_max_rss_kib();
    eprintln!("largest RSS of these runs: {rss} KiB");
    assert!(rss < RSS_LIMIT_KIB, "{rss} KiB");
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A Multiboot kernel of 39 bytes whose bss ends at `bss_end`: the header's address fields put
/// the whole file at 1 MiB, and its code makes the EXIT hypercall.
fn kernel_with_bss(bss_end: u32) -> Vec<u8> {
    const MAGIC: u32 = 0x1BAD_B002;
    const FLAGS: u32 = 1 << 16; // the address fields are valid
    let load = 0x10_0000u32;
    let mut k = Vec::new();
    for word in [
        MAGIC,
        FLAGS,
        0u32.wrapping_sub(MAGIC.wrapping_add(FLAGS)),
        load,      // header_addr: the header is the first thing loaded
        load,      // load_addr
        0,         // load_end_addr: the whole file
        bss_end,   // bss_end_addr
        load + 32, // entry_addr: right after these 32 bytes
    ] {
        k.extend_from_slice(&word.to_le_bytes());
    }
    // 32-bit code: mov dx, 0x500; mov al, 0; out dx, al (EXIT); hlt.
    k.extend_from_slice(&[0x66, 0xBA, 0x00, 0x05, 0xB0, 0x00, 0xEE]);
    k
}

#[test]
fn a_3_gib_bss_costs_no_more_than_a_small_one() {
    let dir = scratch("bss");
    let kernel = dir.join("bss.elf");
    std::fs::write(&kernel, kernel_with_bss(0xBFF0_0000)).unwrap();
    let k = kernel.to_str().unwrap();
    let r = run(&["--mem", "3G", k]);
    eprintln!("kernel with a bss ending near 3 GiB: {:?}", r.elapsed);
    assert_eq!((r.status, r.stderr.as_str()), (0, ""));
    let rss = children_max_rss_kib();
    eprintln!("largest RSS so far: {rss} KiB");
    assert!(rss < RSS_LIMIT_KIB, "{rss} KiB: the bss was touched");
    // And a bss past the end of RAM is an image problem naming the file.
    let r = run(&["--mem", "64M", k]);
    assert_eq!(r.status, 3, "{}", r.stderr);
    common::assert_one_line(&r, &[k, "outside guest RAM"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn each_mode_names_its_own_limit() {
    let dir = scratch("limits");
    let flat = dir.join("flat.bin");
    sparse(&flat, 40 << 20);
    let f = flat.to_str().unwrap();
    let r = run(&[f]);
    assert_eq!(r.status, 3);
    common::assert_one_line(&r, &[f, "41943040 bytes", "262144 bytes of a real-mode"]);
    let r = run(&["--long-mode", f]);
    assert_eq!(r.status, 3);
    common::assert_one_line(&r, &[f, "--long-mode"]);
    let r = run(&["--paging", f]);
    assert_eq!(r.status, 3);
    common::assert_one_line(&r, &[f, "--paging"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn sixteen_gib_of_ram_cost_no_more_than_32_mib() {
    // Past 3 GiB, RAM continues at 4 GiB (its memory slot added when the guest first goes
    // there, which the 1K OS never does); the memory map says so, and nothing touches it.
    let r = run_input(&["--mem", "16G", "os-1k"], b"0\n");
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stdout.contains("Memory: 3072 MiB of RAM (Multiboot memory map)"), "{}", r.stdout);
    let rss = children_max_rss_kib();
    assert!(rss < RSS_LIMIT_KIB, "{rss} KiB: guest RAM was touched");
}
