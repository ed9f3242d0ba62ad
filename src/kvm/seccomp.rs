//! seccomp-BPF: a classic-BPF program the kernel runs at every system call of this process, to
//! allow it or stop it. Hand-written like the KVM bindings: the structures of
//! `include/uapi/linux/filter.h` and `seccomp.h`, a tiny compiler from [`Rule`]s to BPF, the
//! install, and the SIGSYS handler that reports a blocked call.
//!
//! References: seccomp(2), prctl(2) PR_SET_NO_NEW_PRIVS, the kernel's
//! Documentation/userspace-api/seccomp_filter.rst, and Documentation/networking/filter.rst for
//! classic BPF. The filter sees a `struct seccomp_data` (number, architecture, instruction
//! pointer, six arguments) and returns an action: ALLOW, ERRNO (fail the call), or TRAP (send
//! SIGSYS, which is how mini-kvm names the call before exiting with status 1).
//!
//! What is allowed is policy and lives in `confine.rs`; this file only knows how.

use super::bindings::assert_layout;
use super::syscall_names::NAMES;
use std::mem::{offset_of, size_of};
use std::sync::OnceLock;

/// `struct sock_filter`: one classic-BPF instruction.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}
assert_layout!(SockFilter, size: 8, align: 4, { code: 0, jt: 2, jf: 3, k: 4 });
const _: () = assert!(size_of::<SockFilter>() == size_of::<libc::sock_filter>());
const _: () = assert!(offset_of!(libc::sock_filter, k) == 4);

/// `struct sock_fprog`: the program handed to seccomp(2).
#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}
assert_layout!(SockFprog, size: 16, align: 8, { len: 0, filter: 8 });
const _: () = assert!(size_of::<SockFprog>() == size_of::<libc::sock_fprog>());
const _: () = assert!(offset_of!(libc::sock_fprog, filter) == 8);

// Classic BPF opcodes (filter.h, bpf_common.h).
pub const BPF_LD: u16 = 0x00;
pub const BPF_W: u16 = 0x00;
pub const BPF_ABS: u16 = 0x20;
pub const BPF_JMP: u16 = 0x05;
pub const BPF_JEQ: u16 = 0x10;
pub const BPF_JSET: u16 = 0x40;
pub const BPF_K: u16 = 0x00;
pub const BPF_RET: u16 = 0x06;

// seccomp.h: return actions (the high 16 bits; ERRNO carries the errno in the low ones).
pub const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const SECCOMP_RET_TRAP: u32 = 0x0003_0000;
pub const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
pub const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
pub const SECCOMP_SET_MODE_FILTER: u32 = 1;
/// Apply the filter to every thread of the process, not just the caller.
pub const SECCOMP_FILTER_FLAG_TSYNC: u32 = 1;
/// audit.h: AUDIT_ARCH_X86_64 = EM_X86_64 | __AUDIT_ARCH_64BIT | __AUDIT_ARCH_LE.
pub const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// x32 system calls are x86-64 numbers with this bit set: a second, unfiltered table.
pub const X32_SYSCALL_BIT: u32 = 0x4000_0000;

/// Offsets in `struct seccomp_data` { int nr; u32 arch; u64 instruction_pointer; u64 args[6]; }.
pub const DATA_NR: u32 = 0;
pub const DATA_ARCH: u32 = 4;
pub const DATA_ARGS: u32 = 16;
const _: () = assert!(DATA_NR as usize == offset_of!(libc::seccomp_data, nr));
const _: () = assert!(DATA_ARCH as usize == offset_of!(libc::seccomp_data, arch));
const _: () = assert!(DATA_ARGS as usize == offset_of!(libc::seccomp_data, args));

/// One allow-list entry.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// The call is allowed with any arguments.
    Allow(i64),
    /// Allowed when the low 32 bits of argument `arg` are one of `values` (ioctl requests,
    /// whose `unsigned int cmd` the kernel truncates to 32 bits anyway).
    ArgIn {
        nr: i64,
        arg: u32,
        values: &'static [u32],
    },
    /// Allowed when none of `mask`'s bits is set in argument `arg` (PROT_EXEC for mmap).
    ArgMaskClear { nr: i64, arg: u32, mask: u32 },
    /// Allowed when every bit of `mask` is set in argument `arg` (CLONE_THREAD for clone).
    ArgMaskSet { nr: i64, arg: u32, mask: u32 },
    /// Fails with `errno` instead of stopping the process (clone3: glibc falls back to clone,
    /// whose flags, unlike clone3's struct, the filter can read).
    Errno { nr: i64, errno: u32 },
}

fn stmt(code: u16, k: u32) -> SockFilter {
    SockFilter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

fn load(offset: u32) -> SockFilter {
    stmt(BPF_LD | BPF_W | BPF_ABS, offset)
}

fn ret(action: u32) -> SockFilter {
    stmt(BPF_RET | BPF_K, action)
}

/// Compiles the rules into a program: check the architecture (anything but x86-64 is killed:
/// the numbers would mean other calls), refuse x32 numbers, then one block per rule; a call no
/// rule allows is trapped.
pub fn compile(rules: &[Rule]) -> Vec<SockFilter> {
    // [tour:filter-prologue]
    let mut p = vec![
        load(DATA_ARCH),
        jump(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
        ret(SECCOMP_RET_KILL_PROCESS),
        load(DATA_NR),
        jump(BPF_JMP | BPF_JSET | BPF_K, X32_SYSCALL_BIT, 0, 1),
        ret(SECCOMP_RET_TRAP),
    ];
    // [/tour:filter-prologue]
    for rule in rules {
        // Each block starts with A = nr and ends in returns, so the next block finds A intact.
        let block: Vec<SockFilter> = match *rule {
            Rule::Allow(_) => vec![ret(SECCOMP_RET_ALLOW)],
            Rule::ArgIn { arg, values, .. } => {
                let mut b = vec![load(DATA_ARGS + 8 * arg)];
                for &v in values {
                    b.push(jump(BPF_JMP | BPF_JEQ | BPF_K, v, 0, 1));
                    b.push(ret(SECCOMP_RET_ALLOW));
                }
                b.push(ret(SECCOMP_RET_TRAP));
                b
            }
            Rule::ArgMaskClear { arg, mask, .. } => vec![
                load(DATA_ARGS + 8 * arg),
                jump(BPF_JMP | BPF_JSET | BPF_K, mask, 0, 1),
                ret(SECCOMP_RET_TRAP),
                ret(SECCOMP_RET_ALLOW),
            ],
            Rule::ArgMaskSet { arg, mask, .. } => vec![
                load(DATA_ARGS + 8 * arg),
                // JSET tests "any bit": a one-bit mask makes that "this bit".
                jump(BPF_JMP | BPF_JSET | BPF_K, mask, 1, 0),
                ret(SECCOMP_RET_TRAP),
                ret(SECCOMP_RET_ALLOW),
            ],
            Rule::Errno { errno, .. } => vec![ret(SECCOMP_RET_ERRNO | (errno & 0xFFFF))],
        };
        let nr = match *rule {
            Rule::Allow(nr)
            | Rule::ArgIn { nr, .. }
            | Rule::ArgMaskClear { nr, .. }
            | Rule::ArgMaskSet { nr, .. }
            | Rule::Errno { nr, .. } => nr as u32,
        };
        // A block is at most a load, two instructions per value and a return: the allow-list
        // keeps that far below 256, the reach of a conditional jump.
        // [tour:filter-rule]
        let skip = u8::try_from(block.len()).expect("a rule's block fits a BPF jump");
        p.push(jump(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, skip));
        p.extend(block);
        // [/tour:filter-rule]
    }
    p.push(ret(SECCOMP_RET_TRAP));
    p
}

/// The name of system call `nr` ("?" if this table does not know it).
pub fn syscall_name(nr: i64) -> &'static str {
    usize::try_from(nr)
        .ok()
        .and_then(|n| NAMES.get(n))
        .filter(|name| !name.is_empty())
        .copied()
        .unwrap_or("?")
}

/// Does this kernel have seccomp? PR_GET_SECCOMP fails with EINVAL without CONFIG_SECCOMP.
pub fn available() -> bool {
    // SAFETY: PR_GET_SECCOMP takes no pointer and only reads this thread's mode.
    unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 }
}

/// The terminal settings the SIGSYS handler puts back (raw mode must not outlive mini-kvm).
static TERMINAL: OnceLock<libc::termios> = OnceLock::new();

/// Tells the SIGSYS handler which terminal settings to restore on stdin before it exits.
pub fn restore_terminal_on_trap(saved: libc::termios) {
    let _ = TERMINAL.set(saved);
}

/// `siginfo_t` as the kernel fills it for SIGSYS (the `_sigsys` member of its union):
/// si_signo, si_errno, si_code, padding to 8 bytes, then the call's address, number and arch.
#[repr(C)]
struct SigsysInfo {
    signo: i32,
    errno: i32,
    code: i32,
    _pad: i32,
    call_addr: u64,
    syscall: i32,
    arch: u32,
}
assert_layout!(SigsysInfo, size: 32, align: 8, {
    signo: 0, errno: 4, code: 8, _pad: 12, call_addr: 16, syscall: 24, arch: 28,
});
// The handler reads a SigsysInfo at the start of a siginfo_t, so it must fit inside one.
const _: () = assert!(size_of::<SigsysInfo>() <= size_of::<libc::siginfo_t>());

/// Writes "mini-kvm: seccomp: blocked system call N (name)" into `buf`; returns its length.
/// No allocation and no formatting machinery: this runs in a signal handler.
pub fn blocked_line(nr: i64, buf: &mut [u8; 128]) -> usize {
    let mut len = 0;
    let mut put = |bytes: &[u8]| {
        for &b in bytes {
            if len < buf.len() {
                buf[len] = b;
                len += 1;
            }
        }
    };
    put(b"mini-kvm: seccomp: blocked system call ");
    let mut digits = [0u8; 20];
    let mut n = nr.unsigned_abs();
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if nr < 0 {
        put(b"-");
    }
    put(&digits[i..]);
    put(b" (");
    put(syscall_name(nr).as_bytes());
    put(b"): a bug in mini-kvm; --no-seccomp turns the filter off\n");
    len
}

/// Set by the first thread whose system call was blocked: it alone reports and exits. Another
/// thread blocked at the same moment (every vCPU runs the same code) only waits for that exit,
/// so the report is one line however many threads hit the filter.
static REPORTING: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_sigsys(_signal: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    if REPORTING.swap(true, std::sync::atomic::Ordering::SeqCst) {
        loop {
            // SAFETY: poll(2) with no descriptors just sleeps; it is async-signal-safe and
            // allowed by the filter (the handler below uses it too). The reporting thread's
            // _exit ends this one.
            unsafe { libc::poll(std::ptr::null_mut(), 0, -1) };
        }
    }
    // SAFETY: the kernel passes a valid siginfo_t for a SA_SIGINFO handler, and for SIGSYS from
    // seccomp it is the `_sigsys` layout SigsysInfo describes (siginfo_t is 128 bytes, more
    // than SigsysInfo).
    let nr = unsafe { (*info.cast::<SigsysInfo>()).syscall };
    let mut buf = [0u8; 128];
    let len = blocked_line(nr.into(), &mut buf);
    // SAFETY: only async-signal-safe calls (tcsetattr is an ioctl, poll, write, _exit), on
    // buffers that live on this stack or in a static that is no longer written.
    unsafe {
        if let Some(saved) = TERMINAL.get() {
            libc::tcsetattr(0, libc::TCSANOW, saved);
        }
        // A stderr nobody reads must not keep the process alive: wait a little for room, then
        // write (a short line into a pipe with room does not block) or give up.
        let mut pfd = libc::pollfd {
            fd: 2,
            events: libc::POLLOUT,
            revents: 0,
        };
        if libc::poll(&mut pfd, 1, 200) == 1 {
            libc::write(2, buf.as_ptr().cast(), len);
        }
        libc::_exit(1);
    }
}

/// Installs the SIGSYS handler, sets no_new_privs (required to install a filter without
/// CAP_SYS_ADMIN) and installs `program` on every thread of the process (TSYNC).
pub fn install(program: &[SockFilter]) -> std::io::Result<()> {
    let len = u16::try_from(program.len())
        .map_err(|_| std::io::Error::other("the seccomp program is too long"))?;
    let fprog = SockFprog {
        len,
        filter: program.as_ptr(),
    };
    // SAFETY: sigaction with a zeroed struct and a handler of the SA_SIGINFO signature; prctl
    // takes integers only; seccomp(2) reads `len` instructions from `filter`, which points into
    // `program`, alive for the call (the kernel copies the program).
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigsys
            as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
            as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut action.sa_mask);
        if libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let ret = libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            SECCOMP_FILTER_FLAG_TSYNC,
            &fprog as *const SockFprog,
        );
        match ret {
            0 => Ok(()),
            r if r < 0 => Err(std::io::Error::last_os_error()),
            // TSYNC: the id of a thread that could not be synchronised.
            tid => Err(std::io::Error::other(format!(
                "thread {tid} could not take the filter (TSYNC)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
