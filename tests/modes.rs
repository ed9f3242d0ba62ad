//! CPU modes and boot protocols from the command line: --long-mode, --paging, Multiboot
//! kernels (good and broken), --trace.

mod common;
use common::*;

fn scratch(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("mini-kvm-modes-{}-{name}", std::process::id()))
}

#[test]
fn long_mode_flag_runs_a_flat_64_bit_guest() {
    // hello_64 declares long mode itself; a file needs the flag.
    let r = run(&["--long-mode", &test_guest("long_big")]);
    assert_eq!((r.status, r.stdout.as_str()), (0, "checksum ok\n"), "{}", r.stderr);
    let r = run(&["--long-mode", "hello_64"]);
    assert_eq!((r.status, r.stdout.as_str()), (0, "Hello from 64-bit!\n"));
}

#[test]
fn paging_runs_a_32_bit_paged_kernel_or_is_refused_where_kvm_drops_cr0_pg() {
    let r = run(&["--paging", &test_guest("paged32")]);
    if host().is("paging32", "yes") {
        // The C VMM's layout: loaded at 0x1000, entered at 0x80001000 with CR0.PG set.
        assert_eq!(
            (r.status, r.stdout.as_str(), r.stderr.as_str()),
            (
                0,
                "32-bit paged kernel: EIP 0x8000100a, CR0 0x80000011\n\
                 0x80003000 and 0x3000 reach the same frame\n",
                ""
            )
        );
    } else {
        assert_eq!((r.status, r.stdout.as_str()), (4, ""), "{}", r.stderr);
        assert_one_line(&r, &["cannot run 32-bit paged guests", "CR0.PG", "os-1k"]);
    }
    let r = run(&["--paging", "--long-mode", "hello"]);
    assert_eq!(r.status, 2);
}

#[test]
fn int_0x80_from_ring_0_and_ring_3_in_32_bit_protected_mode() {
    let r = run(&[&test_guest("int80_pm32")]);
    if host().is("int-pm32", "yes") {
        assert_eq!(
            (r.status, r.stdout.as_str(), r.stderr.as_str()),
            (0, "int 0x80 from ring 0\nint 0x80 from ring 3\n", "")
        );
    } else {
        // The emulator gives up at the first `int` (at 0x32), before any output.
        assert_eq!((r.status, r.stdout.as_str()), (5, ""), "{}", r.stderr);
        // The cause, then the instruction it stopped at, decoded (fault/decode.rs).
        let lines: Vec<&str> = r.stderr.lines().collect();
        assert_eq!(lines.len(), 3, "{}", r.stderr);
        for needle in
            ["guest fault on vCPU 0 (int80_pm32)", "emulation failure", "at RIP 0x32 (CS 0x0008)"]
        {
            assert!(lines[0].contains(needle), "{}", r.stderr);
        }
        assert!(
            lines[1].starts_with("  the instruction there: cd 80 ")
                && lines[1].ends_with(" = int 0x80: a software interrupt through vector 0x80"),
            "{}",
            r.stderr
        );
        assert!(lines[2].starts_with("  more with -v: the registers and "), "{}", r.stderr);
    }
}

/// A minimal ELF32 kernel: one PT_LOAD at `paddr` holding a Multiboot header (checksum
/// spoiled if asked) and a `hlt`, entry after the header.
fn elf_kernel(paddr: u32, good_checksum: bool) -> Vec<u8> {
    let magic: u32 = 0x1BAD_B002;
    let flags: u32 = 0;
    let mut checksum = 0u32.wrapping_sub(magic).wrapping_sub(flags);
    if !good_checksum {
        checksum ^= 1;
    }
    let mut code = Vec::new();
    for w in [magic, flags, checksum] {
        code.extend_from_slice(&w.to_le_bytes());
    }
    code.push(0xF4);
    let mut f = vec![0u8; 84];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4] = 1; // ELFCLASS32
    f[5] = 1; // little-endian
    f[6] = 1;
    f[16..18].copy_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    f[18..20].copy_from_slice(&3u16.to_le_bytes()); // EM_386
    f[24..28].copy_from_slice(&(paddr + 12).to_le_bytes()); // e_entry
    f[28..32].copy_from_slice(&52u32.to_le_bytes()); // e_phoff
    f[42..44].copy_from_slice(&32u16.to_le_bytes()); // e_phentsize
    f[44..46].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
    let ph = 52;
    let put = |f: &mut Vec<u8>, at: usize, v: u32| f[at..at + 4].copy_from_slice(&v.to_le_bytes());
    put(&mut f, ph, 1); // PT_LOAD
    put(&mut f, ph + 4, 84); // p_offset
    put(&mut f, ph + 8, paddr);
    put(&mut f, ph + 12, paddr);
    put(&mut f, ph + 16, code.len() as u32);
    put(&mut f, ph + 20, code.len() as u32);
    f.extend_from_slice(&code);
    f
}

#[test]
fn broken_kernels_exit_3_with_the_reason() {
    let cases = [
        ("bad-checksum", elf_kernel(0x10_0000, false), "bad Multiboot header checksum"),
        ("outside-ram", elf_kernel(0x300_0000, true), "outside guest RAM"),
        ("boot-area", elf_kernel(0x8000, true), "overlaps the area mini-kvm uses"),
    ];
    for (name, bytes, why) in cases {
        let path = scratch(name);
        std::fs::write(&path, &bytes).unwrap();
        let p = path.to_str().unwrap();
        let r = run(&[p]);
        assert_eq!(r.status, 3, "{name}: {}", r.stderr);
        assert_one_line(&r, &[p, why]);
        std::fs::remove_file(&path).unwrap();
    }
    // An ELF with no Multiboot header at all.
    let mut plain = elf_kernel(0x10_0000, true);
    plain[84..88].copy_from_slice(&[0; 4]);
    let path = scratch("plain");
    std::fs::write(&path, &plain).unwrap();
    let r = run(&[path.to_str().unwrap()]);
    assert_eq!(r.status, 3);
    assert_one_line(&r, &["without a Multiboot header"]);
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn a_tiny_multiboot_kernel_boots_and_halts_with_an_interrupt_controller() {
    // `hlt` with interrupts off under an in-kernel irqchip never exits by itself, but mini-kvm
    // sees the vCPU halted for good (KVM_GET_MP_STATE, RFLAGS.IF clear) and ends the run with
    // status 0, which proves the kernel was entered (a bad entry would fault at once).
    let path = scratch("tiny");
    std::fs::write(&path, elf_kernel(0x10_0000, true)).unwrap();
    let r = run(&["--timeout", "10", "-v", path.to_str().unwrap()]);
    assert_eq!(r.status, 0, "{}", r.stderr);
    assert!(r.stderr.contains("halted with interrupts off"), "{}", r.stderr);
    assert!(
        r.stderr.contains("Multiboot: 32-bit protected mode, paging off, EIP 0x10000c"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("KVM_CREATE_IRQCHIP"), "{}", r.stderr);
    let r = run(&["--mem", "1M", path.to_str().unwrap()]);
    assert_eq!(r.status, 2, "--mem below 2M is a usage error");
    std::fs::remove_file(&path).unwrap();
}

#[test]
fn trace_explains_each_exit_and_leaves_stdout_alone() {
    let r = run(&["--trace", "hello"]);
    assert_eq!((r.status, r.stdout.as_str()), (0, "Hello, KVM!\n"));
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 13, "{}", r.stderr);
    for (i, (line, c)) in lines.iter().zip("Hello, KVM!".chars()).enumerate() {
        // The address is the `out` itself (0x0e in hello.asm) on every kind of KVM, whether
        // it reports RIP at the instruction or past it.
        assert!(
            line.starts_with(&format!("[0] #{:<5} +", i + 1))
                && line.contains("KVM_EXIT_IO    out 0x0500 al=0x01     hypercall PUTCHAR")
                && line.ends_with(&format!("PUTCHAR '{c}'  at 0000:000e")),
            "{line}"
        );
    }
    assert!(lines[11].ends_with("PUTCHAR '\\n'  at 0000:000e"), "{}", lines[11]);
    // HLT exits with RIP past the `hlt` on every KVM (the SDM: a halted CPU resumes after it).
    assert!(
        lines[12].starts_with("[0] #13    +")
            && lines[12]
                .ends_with("KVM_EXIT_HLT                          vCPU stops  at 0000:0013"),
        "{}",
        lines[12]
    );
    let r = run(&["--trace=hlt", "hello"]);
    assert_eq!(r.stderr.lines().count(), 1);
    assert!(r.stderr.contains("KVM_EXIT_HLT"));
    let r = run(&["--trace=uart", &test_guest("uart_lsr")]);
    assert!(r.stderr.contains("read LSR = 0x60 (THRE TEMT)  at 0000:0009"), "{}", r.stderr);
    let r = run(&["--trace=mmio", &test_guest("mmio_read")]);
    assert!(r.stderr.contains("KVM_EXIT_MMIO") && r.stderr.contains("no device"), "{}", r.stderr);
    let r = run(&["--trace=bogus", "hello"]);
    assert_eq!(r.status, 2);
}

/// `mini-kvm hello` under `sh -c` with `redirect` on its command line: (status, stdout, stderr).
fn hello_with(redirect: &str) -> (Option<i32>, String, String) {
    let out = std::process::Command::new("sh")
        .args(["-c", &format!("exec \"$0\" hello {redirect}"), MINI_KVM])
        .output()
        .expect("sh runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

#[test]
fn a_stdout_closed_before_the_start_is_refused_and_stdin_or_stderr_closed_are_not() {
    let refused = "mini-kvm: error: stdout is closed: the guest's output would be lost (give \
                   mini-kvm a stdout, e.g. >/dev/null)\n";
    assert_eq!(hello_with(">&-"), (Some(1), String::new(), refused.to_string()));
    assert_eq!(hello_with("<&-"), (Some(0), "Hello, KVM!\n".to_string(), String::new()));
    assert_eq!(hello_with("2>&-"), (Some(0), "Hello, KVM!\n".to_string(), String::new()));
    // A shell's >/dev/null is a stdout that is open: output nobody wants, status 0.
    assert_eq!(hello_with(">/dev/null"), (Some(0), String::new(), String::new()));
}

#[test]
fn a_closed_stdout_is_a_host_failure_exit_1() {
    let mut child = std::process::Command::new(MINI_KVM)
        .arg(test_guest("flood"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away: writes fail with EPIPE
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("writing guest output failed") && err.contains("Broken pipe"), "{err}");
}
