//! The BPF layer checked without installing anything (a filter would confine the test runner
//! itself): constants against the kernel's (as the libc crate carries them; the layouts are
//! checked at compile time, next to the structs), and compiled programs run through a small
//! classic-BPF interpreter.

use super::*;

#[test]
fn constants_match_the_kernel() {
    assert_eq!(u32::from(BPF_LD), libc::BPF_LD);
    assert_eq!(u32::from(BPF_W), libc::BPF_W);
    assert_eq!(u32::from(BPF_ABS), libc::BPF_ABS);
    assert_eq!(u32::from(BPF_JMP), libc::BPF_JMP);
    assert_eq!(u32::from(BPF_JEQ), libc::BPF_JEQ);
    assert_eq!(u32::from(BPF_JSET), libc::BPF_JSET);
    assert_eq!(u32::from(BPF_K), libc::BPF_K);
    assert_eq!(u32::from(BPF_RET), libc::BPF_RET);
    assert_eq!(SECCOMP_RET_KILL_PROCESS, libc::SECCOMP_RET_KILL_PROCESS);
    assert_eq!(SECCOMP_RET_TRAP, libc::SECCOMP_RET_TRAP);
    assert_eq!(SECCOMP_RET_ERRNO, libc::SECCOMP_RET_ERRNO);
    assert_eq!(SECCOMP_RET_ALLOW, libc::SECCOMP_RET_ALLOW);
    assert_eq!(SECCOMP_SET_MODE_FILTER, libc::SECCOMP_SET_MODE_FILTER);
    assert_eq!(
        u64::from(SECCOMP_FILTER_FLAG_TSYNC),
        libc::SECCOMP_FILTER_FLAG_TSYNC
    );
    // audit.h: EM_X86_64 (62, elf.h) | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE; libc lacks it.
    assert_eq!(AUDIT_ARCH_X86_64, 62 | 0x8000_0000 | 0x4000_0000);
}

#[test]
fn the_name_table_matches_libc_numbers() {
    let known = [
        (libc::SYS_read, "read"),
        (libc::SYS_write, "write"),
        (libc::SYS_openat, "openat"),
        (libc::SYS_ioctl, "ioctl"),
        (libc::SYS_getppid, "getppid"),
        (libc::SYS_execve, "execve"),
        (libc::SYS_socket, "socket"),
        (libc::SYS_clone3, "clone3"),
        (libc::SYS_seccomp, "seccomp"),
        (libc::SYS_ptrace, "ptrace"),
    ];
    for (nr, name) in known {
        assert_eq!(syscall_name(nr), name);
    }
    assert_eq!(syscall_name(-1), "?");
    assert_eq!(syscall_name(100_000), "?");
}

#[test]
fn the_blocked_line_names_number_and_call() {
    let mut buf = [0u8; 128];
    let len = blocked_line(libc::SYS_getppid, &mut buf);
    let line = std::str::from_utf8(&buf[..len]).unwrap();
    assert!(
        line.starts_with("mini-kvm: seccomp: blocked system call 110 (getppid)"),
        "{line}"
    );
    assert!(line.ends_with('\n') && line.matches('\n').count() == 1);
}

/// Runs a classic-BPF program on one `seccomp_data`, as the kernel would.
fn run(program: &[SockFilter], arch: u32, nr: i64, args: [u64; 6]) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&(nr as i32).to_le_bytes());
    data[4..8].copy_from_slice(&arch.to_le_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    let mut acc: u32 = 0;
    let mut pc = 0usize;
    loop {
        let ins = program[pc];
        pc += 1;
        match ins.code {
            c if c == BPF_LD | BPF_W | BPF_ABS => {
                let at = ins.k as usize;
                acc = u32::from_le_bytes(data[at..at + 4].try_into().unwrap());
            }
            c if c == BPF_JMP | BPF_JEQ | BPF_K => {
                pc += usize::from(if acc == ins.k { ins.jt } else { ins.jf });
            }
            c if c == BPF_JMP | BPF_JSET | BPF_K => {
                pc += usize::from(if acc & ins.k != 0 { ins.jt } else { ins.jf });
            }
            c if c == BPF_RET | BPF_K => return ins.k,
            other => panic!("opcode {other:#x} not expected"),
        }
    }
}

#[test]
fn compiled_rules_do_what_they_say() {
    const REQUESTS: &[u32] = &[0xAE80, 0x8090_AE81];
    let rules = [
        Rule::Allow(libc::SYS_read),
        Rule::ArgIn {
            nr: libc::SYS_ioctl,
            arg: 1,
            values: REQUESTS,
        },
        Rule::ArgMaskClear {
            nr: libc::SYS_mmap,
            arg: 2,
            mask: libc::PROT_EXEC as u32,
        },
        Rule::ArgMaskSet {
            nr: libc::SYS_clone,
            arg: 0,
            mask: libc::CLONE_THREAD as u32,
        },
        Rule::Errno {
            nr: libc::SYS_clone3,
            errno: libc::ENOSYS as u32,
        },
    ];
    let p = compile(&rules);
    let x86 = AUDIT_ARCH_X86_64;
    let allow = SECCOMP_RET_ALLOW;
    let trap = SECCOMP_RET_TRAP;
    assert_eq!(run(&p, x86, libc::SYS_read, [0; 6]), allow);
    assert_eq!(run(&p, x86, libc::SYS_openat, [0; 6]), trap);
    assert_eq!(
        run(&p, x86, libc::SYS_ioctl, [3, 0xAE80, 0, 0, 0, 0]),
        allow
    );
    assert_eq!(
        run(&p, x86, libc::SYS_ioctl, [3, 0x8090_AE81, 0, 0, 0, 0]),
        allow
    );
    assert_eq!(run(&p, x86, libc::SYS_ioctl, [3, 0xAE01, 0, 0, 0, 0]), trap);
    let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    assert_eq!(run(&p, x86, libc::SYS_mmap, [0, 4096, rw, 0, 0, 0]), allow);
    let rwx = rw | libc::PROT_EXEC as u64;
    assert_eq!(run(&p, x86, libc::SYS_mmap, [0, 4096, rwx, 0, 0, 0]), trap);
    let thread = (libc::CLONE_THREAD | libc::CLONE_VM) as u64;
    assert_eq!(
        run(&p, x86, libc::SYS_clone, [thread, 0, 0, 0, 0, 0]),
        allow
    );
    assert_eq!(
        run(
            &p,
            x86,
            libc::SYS_clone,
            [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]
        ),
        trap
    );
    assert_eq!(
        run(&p, x86, libc::SYS_clone3, [0; 6]),
        SECCOMP_RET_ERRNO | libc::ENOSYS as u32
    );
    // Another architecture's numbers, and x32 numbers, never reach the allow-list.
    assert_eq!(
        run(&p, 0x4000_0003, libc::SYS_read, [0; 6]),
        SECCOMP_RET_KILL_PROCESS
    );
    assert_eq!(
        run(&p, x86, libc::SYS_read | i64::from(X32_SYSCALL_BIT), [0; 6]),
        trap
    );
}
