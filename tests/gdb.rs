//! `--gdb`: a real gdb in batch mode against mini-kvm, and a hostile client.

mod common;
mod gdb_common;
use common::*;
use gdb_common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[test]
#[ignore = "needs gdb: `make test` installs it and runs this (or: cargo test -- --include-ignored)"]
fn gdb_breaks_steps_and_reads_the_1k_os() {
    let child = start(&["os-1k"], b"1\n0\n");
    let port = child.port;
    let transcript = gdb(
        port,
        Some(env!("MINI_KVM_OS_1K_ELF")),
        &[
            "break kernel_main",
            "continue",
            "info registers rip",
            "stepi",
            "info registers rip",
            "x/s exception_names[14]",
            "delete",
            "continue",
        ],
    );
    assert!(transcript.contains("Breakpoint 1, kernel_main"), "{transcript}");
    let rips: Vec<&str> = transcript.lines().filter(|l| l.starts_with("rip ")).collect();
    assert_eq!(rips.len(), 2, "{transcript}");
    assert!(rips[0].ends_with("<kernel_main>"), "rip matches the symbol: {}", rips[0]);
    assert!(rips[1].contains("<kernel_main+"), "stepi advanced: {}", rips[1]);
    assert!(transcript.contains("\"page fault (#PF)\""), "{transcript}");
    assert!(transcript.contains("exited normally"), "{transcript}");
    let (status, stdout, stderr) = finish(child);
    assert_eq!(status, 0, "{stderr}");
    // The guest's output is what it is without a debugger.
    let alone = run_input(&["os-1k"], b"1\n0\n");
    assert_eq!(stdout, alone.stdout);
    assert!(stderr.contains(&format!("gdb -ex 'target remote :{port}'")), "{stderr}");
}

#[test]
#[ignore = "needs gdb: `make test` installs it and runs this (or: cargo test -- --include-ignored)"]
fn stepi_walks_a_real_mode_guest() {
    let child = start(&["hello"], b"");
    let port = child.port;
    let transcript = gdb(
        port,
        None,
        &[
            "stepi",
            "info registers eip",
            "stepi",
            "info registers eip",
            "stepi",
            "info registers eip",
            "x/2i $pc",
            "continue",
        ],
    );
    let eips: Vec<&str> = transcript
        .lines()
        .filter(|l| l.starts_with("eip "))
        .map(|l| l.split_whitespace().nth(1).unwrap())
        .collect();
    assert_eq!(eips, vec!["0x3", "0x5", "0x7"], "{transcript}");
    assert!(transcript.contains("exited normally"), "{transcript}");
    let (status, stdout, _) = finish(child);
    assert_eq!((status, stdout.as_str()), (0, "Hello, KVM!\n"));
}

#[test]
fn garbage_and_an_early_disconnect_do_not_hurt_the_vmm() {
    let child = start(&["hello"], b"");
    let port = child.port;
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    // Noise, a bad checksum, a malformed packet, an oversized one, then real requests.
    s.write_all(b"\x00\xffhello}}}#$#").unwrap();
    s.write_all(b"$g#00").unwrap();
    s.write_all(&packet("mzz,qq")).unwrap();
    let mut big = b"$".to_vec();
    big.extend(std::iter::repeat_n(b'G', 40_000));
    big.extend(b"#00");
    s.write_all(&big).unwrap();
    s.write_all(&packet("m0,4")).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    let started = Instant::now();
    while !String::from_utf8_lossy(&got).contains("$be13008a") {
        assert!(started.elapsed() < Duration::from_secs(30), "{:?}", String::from_utf8_lossy(&got));
        let n = s.read(&mut buf).unwrap();
        got.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    assert!(text.contains('-'), "the bad checksum was refused: {text}");
    assert!(text.contains("$E01#"), "the malformed packet got an error: {text}");
    // Hang up mid-session: mini-kvm detaches and the guest runs to its end.
    drop(s);
    let (status, stdout, _) = finish(child);
    assert_eq!((status, stdout.as_str()), (0, "Hello, KVM!\n"));
}

#[test]
fn gdb_kill_stops_the_vm() {
    let child = start(&[&test_guest("spin")], b"");
    let mut s = TcpStream::connect(("127.0.0.1", child.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(&packet("c")).unwrap();
    // The stub acknowledges the packet ('+') and lets the vCPU run; a Ctrl-C from then on
    // must stop it, however soon it comes.
    let mut buf = [0u8; 256];
    let n = s.read(&mut buf).unwrap();
    assert_eq!(&buf[..n.min(1)], b"+");
    s.write_all(b"\x03").unwrap(); // Ctrl-C: the spinning vCPU is kicked and stops
    let mut got = String::from_utf8_lossy(&buf[1..n]).into_owned();
    while !got.contains("T02") {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "{got}");
        got.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    s.write_all(&packet("k")).unwrap();
    let (status, _, stderr) = finish(child);
    assert_eq!(status, 130, "{stderr}");
    assert!(stderr.contains("stopped by gdb (kill)"), "{stderr}");
}

#[test]
#[ignore = "needs gdb: `make test` installs it and runs this (or: cargo test -- --include-ignored)"]
fn stepi_crosses_the_out_in_the_console_driver() {
    let child = start(&["os-1k"], b"0\n");
    // Into console_putc (the boot log's first character: reached without an interrupt gate,
    // which on kvm_amd nested under QEMU loses the trap flag of single-stepping), on to its
    // line with the `out` (`advance`: no stepping there, each stepi costs about a second on
    // the nested lane), step to the `out dx, al` (0xEE) to COM1, then over it.
    let script = "break console_putc\ncontinue\ndelete\nadvance console.c:77\nset $n = 0\n\
                  while $n < 100000 && *(unsigned char *)$pc != 0xee\n  stepi\n  \
                  set $n = $n + 1\nend\nprint/x $pc\nx/i $pc\nstepi\nprint/x $pc\ncontinue\n";
    let transcript =
        gdb_script(child.port, Some(env!("MINI_KVM_OS_1K_ELF")), "console-putc", script);
    let pcs: Vec<u64> = transcript
        .lines()
        .filter_map(|l| l.split_once("= 0x"))
        .filter_map(|(_, v)| u64::from_str_radix(v.trim(), 16).ok())
        .collect();
    assert_eq!(pcs.len(), 2, "{transcript}");
    assert_eq!(pcs[1], pcs[0] + 1, "stepi went exactly over the out:\n{transcript}");
    assert!(transcript.contains("out    %al,(%dx)"), "{transcript}");
    let late = transcript.contains("this KVM reported no single step for the `out` to port 0x3f8");
    assert_eq!(late, host().is("io-out-rip", "after"), "{transcript}");
    assert!(transcript.contains("exited normally"), "{transcript}");
    let (status, _, stderr) = finish(child);
    assert_eq!(status, 0, "{stderr}");
}

#[test]
#[ignore = "needs gdb: `make test` installs it and runs this (or: cargo test -- --include-ignored)"]
fn user_page_breakpoints_are_hit_or_said_to_be_unreachable() {
    // `1` makes the shell start a program; 0x400012 is the instruction after `call main` in
    // its crt0.S (every program is linked at 0x400000, a user page: user.ld), reached when
    // main returns, right after main's last write system call. The breakpoint goes in before
    // any program is loaded (0x400012 is then a supervisor page of the boot tables, or none),
    // as a student breaks on `main`.
    let child = start(&["os-1k"], b"1\n0\n");
    let steps_ring3 = host().is("single-step-ring3", "yes");
    let transcript = gdb(
        child.port,
        Some(env!("MINI_KVM_OS_1K_ELF")),
        &[
            "break *0x400012",
            "continue",
            "print $cs & 3",
            "monitor breakpoints",
            "delete",
            "break *0x400000",
            "continue",
            "delete",
            "continue",
        ],
    );
    let (status, _, stderr) = finish(child);
    assert_eq!(status, 0, "{stderr}\n{transcript}");
    assert!(transcript.contains("exited normally"), "{transcript}");
    let said = |addr: &str| {
        format!(
            "mini-kvm: the breakpoint at {addr} can never be hit on this KVM: it is on a \
             user-mode page, and this KVM runs ring-3 code natively, without single-step exits"
        )
    };
    if steps_ring3 {
        assert!(transcript.contains("Breakpoint 1, 0x0000000000400012"), "{transcript}");
        assert!(transcript.contains("$1 = 3"), "stopped in ring 3: {transcript}");
        assert!(
            transcript.contains("0x0000000000400012  ") && !transcript.contains("never be hit"),
            "{transcript}"
        );
    } else {
        // Found once the program's page is mapped: the guest stops (in the kernel) to say so,
        // through gdb's console, and never silently runs past it.
        assert!(transcript.contains(&said("0x400012")), "{transcript}");
        assert!(transcript.contains("Program received signal SIGTRAP"), "{transcript}");
        assert!(!transcript.contains("Breakpoint 1,"), "{transcript}");
        assert!(transcript.contains("$1 = 0"), "stopped in the kernel: {transcript}");
        assert!(
            transcript.contains(
                "0x0000000000400012  debug register  can never be hit: on a user-mode page"
            ) || transcript.contains(
                "0x0000000000400012  single-stepped  can never be hit: on a user-mode page"
            ),
            "monitor breakpoints: {transcript}"
        );
        // Set where it is already a user page (or found at the next exit): said at once too.
        assert!(transcript.contains(&said("0x400000")), "{transcript}");
        assert!(
            stderr.contains("mini-kvm: gdb: breakpoint at 0x400012 is now on a user-mode page"),
            "{stderr}"
        );
    }
}

#[test]
#[ignore = "needs gdb: `make test` installs it and runs this (or: cargo test -- --include-ignored)"]
fn monitor_pagewalk_shows_the_1k_os_kernel_mapping_level_by_level() {
    let child = start(&["os-1k"], b"0\n");
    let transcript = gdb(
        child.port,
        Some(env!("MINI_KVM_OS_1K_ELF")),
        &[
            "monitor pagewalk 0x100000",
            "break kernel_main",
            "continue",
            "print/x (long)&boot_pml4 - 0xffffffff80000000",
            "monitor pagewalk 0xffffffff80100000",
            "delete",
            "continue",
        ],
    );
    let (status, _, stderr) = finish(child);
    assert_eq!(status, 0, "{stderr}\n{transcript}");
    // At the first instruction (Multiboot: 32-bit protected mode) paging is off.
    assert!(
        transcript.contains(
            "pagewalk 0x100000: paging is off (CR0.PG = 0): the linear address is the \
             physical address 0x100000\n"
        ),
        "{transcript}"
    );
    // In kernel_main, CR3 holds boot.S's tables: boot_pml4, boot_pdpt and boot_pd one page
    // after another; the kernel is one 2 MiB page at physical 0 (entries 511, 510, 0). The
    // CPU has set A on the way, and D on the page the kernel has written to.
    let cr3 = transcript
        .lines()
        .find_map(|l| l.strip_prefix("$1 = 0x"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .unwrap_or_else(|| panic!("no boot_pml4 address: {transcript}"));
    let expected = format!(
        "pagewalk 0xffffffff80100000: 4-level paging, CR3 {cr3:#x}
level  index  entry at    entry               flags
PML4E    511  {:<10}  {:#018x}  P RW A
PDPTE    510  {:<10}  {:#018x}  P RW A
PDE        0  {:<10}  0x00000000000000e3  P RW A D PS (2 MiB page)
physical address 0x100000
",
        format!("{:#x}", cr3 + 511 * 8),
        (cr3 + 0x1000) | 0x23,
        format!("{:#x}", cr3 + 0x1000 + 510 * 8),
        (cr3 + 0x2000) | 0x23,
        format!("{:#x}", cr3 + 0x2000),
    );
    assert!(transcript.contains(&expected), "{expected}\nin\n{transcript}");
}

#[test]
#[ignore = "needs gdb: `make test` installs it and runs this (or: cargo test -- --include-ignored)"]
fn gdb_sees_one_thread_per_cpu_and_hears_the_status_an_ap_ends_with() {
    // A kernel on three CPUs: gdb lists three threads, the application processors waiting at
    // the reset vector until the kernel starts them; the last one started ends the run with
    // status 7, which gdb hears as the inferior's exit code.
    if host().is("ap-start", "no") {
        return assert_eq!(run(&["--cpus", "3", &test_guest("smp_start")]).status, 4);
    }
    let guest = test_guest("smp_start");
    let child = start(&["--cpus", "3", "--cmdline", "ap-exit", &guest], b"");
    let transcript = gdb(child.port, None, &["info threads", "continue"]);
    for thread in ["1    Thread 1 (vCPU 0)", "2    Thread 2 (vCPU 1)", "3    Thread 3 (vCPU 2)"] {
        assert!(transcript.contains(thread), "{thread:?} in:\n{transcript}");
    }
    assert!(transcript.contains("exited with code 07"), "{transcript}");
    let (status, stdout, _) = finish(child);
    assert_eq!(status, 7);
    assert!(stdout.ends_with("ap 1 up\nap 2 up\n"), "{stdout}");
}
