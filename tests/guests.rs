//! Every built-in guest, run by the real binary under KVM: whole stdout, stderr and status.

mod common;
use common::*;

/// (guest, stdin, expected stdout, expected status)
const CASES: &[(&str, &str, &str, i32)] = &[
    ("minimal", "", "", 0),
    ("hello", "", "Hello, KVM!\n", 0),
    ("counter", "", "0123456789", 0),
    (
        "multiplication",
        "",
        "2x1=2 2x2=4 2x3=6 2x4=8 2x5=10 2x6=12 2x7=14 2x8=16 2x9=18 \
         3x1=3 3x2=6 3x3=9 3x4=12 3x5=15 3x6=18 3x7=21 3x8=24 3x9=27 \
         4x1=4 4x2=8 4x3=12 4x4=16 4x5=20 4x6=24 4x7=28 4x8=32 4x9=36 \
         5x1=5 5x2=10 5x3=15 5x4=20 5x5=25 5x6=30 5x7=35 5x8=40 5x9=45 \
         6x1=6 6x2=12 6x3=18 6x4=24 6x5=30 6x6=36 6x7=42 6x8=48 6x9=54 \
         7x1=7 7x2=14 7x3=21 7x4=28 7x5=35 7x6=42 7x7=49 7x8=56 7x9=63 \
         8x1=8 8x2=16 8x3=24 8x4=32 8x5=40 8x6=48 8x7=56 8x8=64 8x9=72 \
         9x1=9 9x2=18 9x3=27 9x4=36 9x5=45 9x6=54 9x7=63 9x8=72 9x9=81 ",
        0,
    ),
    ("multiplication_short", "", "2x1=2 2x2=4 2x3=6 2x4=8 2x5=10 2x6=12 2x7=14 2x8=16 2x9=18 ", 0),
    ("fibonacci", "", "Fibonacci: 0, 1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 144, 233, 377\n", 0),
    ("hctest", "", "Hello!\n42\n1234\n", 0),
    (
        "matrix",
        "",
        "Matrix 8x8 multiplication benchmark\nC[0][0] = 162\nC[7][7] = 198\n\
         Matrix multiplication complete!\n",
        0,
    ),
    ("echo", "Echo me\nq", "Echo me\n", 0),
    ("hello_64", "", "Hello from 64-bit!\n", 0),
];

#[test]
fn every_builtin_guest_prints_its_exact_output() {
    for (guest, input, stdout, status) in CASES {
        let r = run_input(&[guest], input.as_bytes());
        assert_eq!(r.stdout, *stdout, "{guest}: stdout");
        assert_eq!(r.stderr, "", "{guest}: stderr");
        assert_eq!(r.status, *status, "{guest}: status");
    }
}

#[test]
fn guests_run_from_any_directory() {
    let out = std::process::Command::new(MINI_KVM).arg("hello").current_dir("/").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "Hello, KVM!\n");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_file_argument_wins_over_a_builtin_name() {
    let dir = std::env::temp_dir().join(format!("mini-kvm-file-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    // A file called "hello" that prints "A" instead.
    std::fs::copy(test_guest("putchar_a"), dir.join("hello")).unwrap();
    let out = std::process::Command::new(MINI_KVM).arg("hello").current_dir(&dir).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "A");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn port_io_sizes_string_io_and_unbacked_memory() {
    let r = run(&[&test_guest("io_sizes")]);
    assert_eq!(
        (r.status, r.stdout.as_str()),
        (0, "rep outsb\nSCR=5A unused=FFFF dword=FFFFFFFF\n")
    );
    let r = run(&[&test_guest("mmio_read")]);
    assert_eq!((r.status, r.stdout.as_str()), (0, "FF\n"));
    // -v counts what nobody claimed.
    let r = run(&["-v", &test_guest("mmio_read")]);
    assert!(
        r.stderr.contains("MMIO with no memory behind it: 1 reads (all ones), 1 writes (dropped)"),
        "{}",
        r.stderr
    );
    let r = run(&["-v", &test_guest("io_sizes")]);
    assert!(r.stderr.contains("unclaimed port 0x1234: 2 reads"), "{}", r.stderr);
}

#[test]
fn an_output_flood_is_stopped_by_the_timeout() {
    let r = run(&["--timeout", "0.5", &test_guest("flood")]);
    assert_eq!(r.status, 124);
    // The flood ran and what it printed arrived whole; how much fits in 0.5 s depends on the
    // host (a nested lane printed under 1,000 bytes once), so no amount is asserted.
    assert!(!r.stdout.is_empty() && r.stdout.bytes().all(|b| b == b'x'));
}

#[test]
fn long_mode_runs_a_16_kib_image_intact() {
    // hello_64's code followed by 16 KiB of data: the page tables must not land on it.
    let mut image = std::fs::read(test_guest("long_big")).unwrap();
    assert!(image.len() > 16 * 1024);
    let path = std::env::temp_dir().join(format!("mini-kvm-long-{}.bin", std::process::id()));
    std::fs::write(&path, &image).unwrap();
    let r = run(&["--long-mode", path.to_str().unwrap()]);
    assert_eq!((r.status, r.stdout.as_str()), (0, "checksum ok\n"), "{}", r.stderr);
    // Flip a byte of the data: the guest notices.
    let last = image.len() - 1;
    image[last] ^= 0xFF;
    std::fs::write(&path, &image).unwrap();
    let r = run(&["--long-mode", path.to_str().unwrap()]);
    assert_eq!(r.stdout, "checksum BAD\n");
    std::fs::remove_file(path).unwrap();
}
