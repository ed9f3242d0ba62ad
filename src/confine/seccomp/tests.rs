//! The BPF compiler checked without installing anything (a filter would confine the test
//! runner itself): constants against the kernel's, and compiled programs run through a small
//! classic-BPF interpreter written here from Documentation/networking/filter.rst.

use super::*;

#[test]
fn constants_match_the_kernel() {
    assert_eq!(u32::from(LD_W_ABS), libc::BPF_LD | libc::BPF_W | libc::BPF_ABS);
    assert_eq!(u32::from(JEQ_K), libc::BPF_JMP | libc::BPF_JEQ | libc::BPF_K);
    assert_eq!(u32::from(JSET_K), libc::BPF_JMP | libc::BPF_JSET | libc::BPF_K);
    assert_eq!(u32::from(RET_K), libc::BPF_RET | libc::BPF_K);
    assert_eq!(SECCOMP_RET_KILL_PROCESS, libc::SECCOMP_RET_KILL_PROCESS);
    assert_eq!(SECCOMP_RET_TRAP, libc::SECCOMP_RET_TRAP);
    assert_eq!(SECCOMP_RET_ERRNO, libc::SECCOMP_RET_ERRNO);
    assert_eq!(SECCOMP_RET_ALLOW, libc::SECCOMP_RET_ALLOW);
    assert_eq!(SECCOMP_SET_MODE_FILTER, libc::SECCOMP_SET_MODE_FILTER);
    assert_eq!(u64::from(SECCOMP_FILTER_FLAG_TSYNC), libc::SECCOMP_FILTER_FLAG_TSYNC);
    // audit.h: EM_X86_64 (62, elf.h) | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.
    assert_eq!(AUDIT_ARCH_X86_64, 62 | 0x8000_0000 | 0x4000_0000);
}

#[test]
fn the_blocked_line_names_number_and_call_and_fits_its_buffer() {
    let mut buf = [0u8; 160];
    let len = blocked_line(libc::SYS_getppid, "getppid", &mut buf);
    let line = std::str::from_utf8(&buf[..len]).expect("ASCII");
    assert_eq!(
        line,
        "mini-kvm: seccomp: blocked system call 110 (getppid): a bug in mini-kvm; \
         --no-seccomp turns the filter off\n"
    );
    let len = blocked_line(-7, "x", &mut buf);
    assert!(std::str::from_utf8(&buf[..len]).expect("ASCII").contains("call -7 (x)"));
    let long = "n".repeat(300);
    assert_eq!(blocked_line(i64::MIN, &long, &mut buf), buf.len(), "cut, never past the end");
}

/// Runs a classic-BPF program on one `seccomp_data`, as the kernel would.
fn run(program: &[SockFilter], arch: u32, nr: i64, args: [u64; 6]) -> u32 {
    let mut data = [0u8; 64];
    data[0..4].copy_from_slice(&(nr as i32).to_le_bytes());
    data[4..8].copy_from_slice(&arch.to_le_bytes());
    for (i, a) in args.iter().enumerate() {
        data[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    let (mut acc, mut pc) = (0u32, 0usize);
    loop {
        let ins = program[pc];
        pc += 1;
        match ins.code {
            LD_W_ABS => {
                let at = ins.k as usize;
                acc = u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes"));
            }
            JEQ_K => pc += usize::from(if acc == ins.k { ins.jt } else { ins.jf }),
            JSET_K => pc += usize::from(if acc & ins.k != 0 { ins.jt } else { ins.jf }),
            RET_K => return ins.k,
            other => panic!("opcode {other:#x} not expected"),
        }
    }
}

#[test]
fn compiled_rules_do_what_they_say() {
    const REQUESTS: &[u32] = &[0xAE80, 0x8090_AE81];
    let rules = [
        Rule::Allow(libc::SYS_read),
        Rule::ArgIn { nr: libc::SYS_ioctl, arg: 1, values: REQUESTS },
        Rule::ArgMaskClear { nr: libc::SYS_mmap, arg: 2, mask: libc::PROT_EXEC as u32 },
        Rule::ArgMaskSet { nr: libc::SYS_clone, arg: 0, mask: libc::CLONE_THREAD as u32 },
        Rule::Errno { nr: libc::SYS_clone3, errno: libc::ENOSYS as u32 },
    ];
    let p = compile(&rules);
    let (x86, allow, trap) = (AUDIT_ARCH_X86_64, SECCOMP_RET_ALLOW, SECCOMP_RET_TRAP);
    assert_eq!(run(&p, x86, libc::SYS_read, [0; 6]), allow);
    assert_eq!(run(&p, x86, libc::SYS_openat, [0; 6]), trap);
    assert_eq!(run(&p, x86, libc::SYS_ioctl, [3, 0xAE80, 0, 0, 0, 0]), allow);
    assert_eq!(run(&p, x86, libc::SYS_ioctl, [3, 0x8090_AE81, 0, 0, 0, 0]), allow);
    assert_eq!(run(&p, x86, libc::SYS_ioctl, [3, 0xAE01, 0, 0, 0, 0]), trap);
    let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    assert_eq!(run(&p, x86, libc::SYS_mmap, [0, 4096, rw, 0, 0, 0]), allow);
    let rwx = rw | libc::PROT_EXEC as u64;
    assert_eq!(run(&p, x86, libc::SYS_mmap, [0, 4096, rwx, 0, 0, 0]), trap);
    let thread = (libc::CLONE_THREAD | libc::CLONE_VM) as u64;
    assert_eq!(run(&p, x86, libc::SYS_clone, [thread, 0, 0, 0, 0, 0]), allow);
    assert_eq!(run(&p, x86, libc::SYS_clone, [libc::SIGCHLD as u64, 0, 0, 0, 0, 0]), trap);
    assert_eq!(run(&p, x86, libc::SYS_clone3, [0; 6]), SECCOMP_RET_ERRNO | libc::ENOSYS as u32);
    // Another architecture's numbers, and x32 numbers, never reach the allow-list.
    assert_eq!(run(&p, 0x4000_0003, libc::SYS_read, [0; 6]), SECCOMP_RET_KILL_PROCESS);
    assert_eq!(run(&p, x86, libc::SYS_read | i64::from(X32_SYSCALL_BIT), [0; 6]), trap);
}

#[test]
fn a_long_list_of_values_still_fits_the_jump_offsets() {
    let values: Vec<u32> = (0..100).collect();
    let values: &'static [u32] = Box::leak(values.into_boxed_slice());
    let p = compile(&[Rule::ArgIn { nr: libc::SYS_ioctl, arg: 1, values }, Rule::Allow(0)]);
    assert_eq!(run(&p, AUDIT_ARCH_X86_64, libc::SYS_ioctl, [0, 99, 0, 0, 0, 0]), SECCOMP_RET_ALLOW);
    assert_eq!(run(&p, AUDIT_ARCH_X86_64, libc::SYS_ioctl, [0, 100, 0, 0, 0, 0]), SECCOMP_RET_TRAP);
    assert_eq!(run(&p, AUDIT_ARCH_X86_64, 0, [0; 6]), SECCOMP_RET_ALLOW);
}
