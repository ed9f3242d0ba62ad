//! seccomp-BPF by hand: a classic BPF program that the kernel runs at every system call of
//! every thread (Documentation/userspace-api/seccomp_filter.rst; the BPF instruction set in
//! Documentation/networking/filter.rst). It reads `struct seccomp_data` (the architecture, the
//! call number, its arguments) and returns an action: ALLOW, ERRNO, or TRAP, which raises
//! SIGSYS so that mini-kvm can say which call it was, restore the terminal and exit 1.
//!
//! This file and kvm/ are the places mini-kvm calls the kernel below libc's safe wrappers:
//! prctl(PR_SET_NO_NEW_PRIVS), seccomp(2) and a SIGSYS handler.

use crate::kvm::bindings::layout;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

/// One BPF instruction (`struct sock_filter`, <linux/filter.h>).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}
layout!(SockFilter, 8, jt @ 2, jf @ 3, k @ 4);

/// A program (`struct sock_fprog`).
#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}
layout!(SockFprog, 16, filter @ 8);

// BPF opcodes: load a word at an absolute offset, jump if equal / if any bit set, return.
const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JSET_K: u16 = 0x45;
const RET_K: u16 = 0x06;

pub const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
pub const SECCOMP_RET_TRAP: u32 = 0x0003_0000;
pub const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
pub const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_SET_MODE_FILTER: u32 = 1;
/// Every thread of the process takes the filter, the ones already running included.
const SECCOMP_FILTER_FLAG_TSYNC: u32 = 1;
const AUDIT_ARCH_X86_64: u32 = 0xC000_003E;
/// x32 system calls share x86-64's architecture value: they are told apart by this bit.
const X32_SYSCALL_BIT: u32 = 0x4000_0000;
// Offsets in `struct seccomp_data`: nr, arch, args[6] (u64 each, the low word first).
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
const DATA_ARGS: u32 = 16;
const _: () = assert!(std::mem::offset_of!(libc::seccomp_data, args) == DATA_ARGS as usize);

/// What the filter lets through for one system call.
#[derive(Debug, Clone, Copy)]
pub enum Rule {
    /// Allowed, whatever its arguments.
    Allow(i64),
    /// Allowed when argument `arg` (its low 32 bits) is one of `values`.
    ArgIn { nr: i64, arg: u32, values: &'static [u32] },
    /// Allowed when argument `arg` has none of `mask`'s bits (mmap without PROT_EXEC).
    ArgMaskClear { nr: i64, arg: u32, mask: u32 },
    /// Allowed when argument `arg` has all of `mask`'s bits (clone of a thread).
    ArgMaskSet { nr: i64, arg: u32, mask: u32 },
    /// Fails with `errno` (so that libc falls back to another call).
    Errno { nr: i64, errno: u32 },
}

impl Rule {
    pub fn nr(&self) -> i64 {
        match *self {
            Rule::Allow(nr) | Rule::ArgIn { nr, .. } | Rule::ArgMaskClear { nr, .. } => nr,
            Rule::ArgMaskSet { nr, .. } | Rule::Errno { nr, .. } => nr,
        }
    }
}

fn op(code: u16, k: u32, jt: u8, jf: u8) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

/// The program: x86-64 calls only (anything else kills the process), no x32, then one block
/// per rule ("not this call: skip the block"), and TRAP for every call no rule names.
pub fn compile(rules: &[Rule]) -> Vec<SockFilter> {
    // [tour:filter-prologue]
    let mut p = vec![
        op(LD_W_ABS, DATA_ARCH, 0, 0),
        op(JEQ_K, AUDIT_ARCH_X86_64, 1, 0),
        op(RET_K, SECCOMP_RET_KILL_PROCESS, 0, 0),
        op(LD_W_ABS, DATA_NR, 0, 0),
        op(JSET_K, X32_SYSCALL_BIT, 0, 1),
        op(RET_K, SECCOMP_RET_TRAP, 0, 0),
    ];
    // [/tour:filter-prologue]
    let (allow, trap) = (op(RET_K, SECCOMP_RET_ALLOW, 0, 0), op(RET_K, SECCOMP_RET_TRAP, 0, 0));
    for rule in rules {
        let load_arg = |arg: u32| op(LD_W_ABS, DATA_ARGS + 8 * arg, 0, 0);
        let block: Vec<SockFilter> = match *rule {
            Rule::Allow(_) => vec![allow],
            Rule::ArgIn { arg, values, .. } => {
                let tests = values.iter().flat_map(|&v| [op(JEQ_K, v, 0, 1), allow]);
                std::iter::once(load_arg(arg)).chain(tests).chain([trap]).collect()
            }
            Rule::ArgMaskClear { arg, mask, .. } => {
                vec![load_arg(arg), op(JSET_K, mask, 0, 1), trap, allow]
            }
            Rule::ArgMaskSet { arg, mask, .. } => {
                vec![load_arg(arg), op(JSET_K, mask, 1, 0), trap, allow]
            }
            Rule::Errno { errno, .. } => {
                vec![op(RET_K, SECCOMP_RET_ERRNO | (errno & 0xFFFF), 0, 0)]
            }
        };
        // [tour:filter-rule]
        // Each block is a few instructions (an ArgIn list is short): it fits a jump offset.
        let skip = u8::try_from(block.len()).expect("a rule's block fits a BPF jump");
        // Every path through a block returns, so the next test still finds the number loaded.
        p.push(op(JEQ_K, rule.nr() as u32, 0, skip));
        p.extend(block);
        // [/tour:filter-rule]
    }
    p.push(trap);
    p
}

/// Whether this kernel has seccomp at all.
pub fn available() -> bool {
    // SAFETY: PR_GET_SECCOMP reads nothing of ours; it returns the mode or -1 (EINVAL).
    unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 }
}

/// The terminal's settings before raw mode, for the SIGSYS handler to restore.
static TERMINAL: OnceLock<libc::termios> = OnceLock::new();
/// System calls by number, for the handler's message (built before the filter is on: the
/// handler must not allocate).
static NAMES: OnceLock<Vec<(i64, &'static str)>> = OnceLock::new();

/// The line the handler writes for call `nr` into `buf`, without allocating (it runs in a
/// signal handler); its length.
pub fn blocked_line(nr: i64, name: &str, buf: &mut [u8; 160]) -> usize {
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
    let (mut n, mut i) = (nr.unsigned_abs(), digits.len());
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    put(if nr < 0 { b"-" } else { b"" });
    put(&digits[i..]);
    put(b" (");
    put(name.as_bytes());
    put(b"): a bug in mini-kvm; --no-seccomp turns the filter off\n");
    len
}

/// SIGSYS: one line on stderr, the terminal restored, exit status 1. The first thread to get
/// here reports; any other waits for the exit.
extern "C" fn on_sigsys(_signal: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    static REPORTING: AtomicBool = AtomicBool::new(false);
    if REPORTING.swap(true, Ordering::SeqCst) {
        loop {
            // SAFETY: poll with no fds only sleeps; the reporting thread ends the process.
            unsafe { libc::poll(std::ptr::null_mut(), 0, -1) };
        }
    }
    // SAFETY: for SIGSYS the kernel fills siginfo's `_sigsys` member; `si_syscall` is its int
    // at byte 24 (struct siginfo: three ints, padding, `_call_addr`, then `_syscall`).
    let nr = unsafe { info.cast::<u8>().add(24).cast::<i32>().read() };
    let named = NAMES.get().and_then(|names| names.iter().find(|(n, _)| *n == i64::from(nr)));
    let name = named.map_or("see ausyscall", |(_, name)| name);
    let mut buf = [0u8; 160];
    let len = blocked_line(nr.into(), name, &mut buf);
    // SAFETY: tcsetattr, poll, write and _exit are async-signal-safe; every pointer passed
    // points into this frame or a static that is never written again.
    unsafe {
        if let Some(saved) = TERMINAL.get() {
            libc::tcsetattr(0, libc::TCSANOW, saved);
        }
        let mut pfd = libc::pollfd { fd: 2, events: libc::POLLOUT, revents: 0 };
        if libc::poll(&mut pfd, 1, 200) == 1 {
            libc::write(2, buf.as_ptr().cast(), len);
        }
        libc::_exit(1);
    }
}

/// Installs the SIGSYS handler, then the filter on every thread (PR_SET_NO_NEW_PRIVS first, as
/// an unprivileged process must). `names` names calls for the message; `terminal` is what to
/// restore.
pub fn install(
    program: &[SockFilter],
    names: Vec<(i64, &'static str)>,
    terminal: Option<libc::termios>,
) -> std::io::Result<()> {
    let len = u16::try_from(program.len())
        .map_err(|_| std::io::Error::other("the seccomp program is too long"))?;
    let _ = NAMES.set(names);
    if let Some(terminal) = terminal {
        let _ = TERMINAL.set(terminal);
    }
    let fprog = SockFprog { len, filter: program.as_ptr() };
    let last = std::io::Error::last_os_error;
    // SAFETY: a zeroed sigaction with an SA_SIGINFO handler of the right signature; prctl and
    // seccomp(2) read only `fprog`, which (and the program it points to) lives across the call.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_sigsys
            as extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void)
            as libc::sighandler_t;
        action.sa_flags = libc::SA_SIGINFO;
        if libc::sigaction(libc::SIGSYS, &action, std::ptr::null_mut()) != 0
            || libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
        {
            return Err(last());
        }
        match libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            SECCOMP_FILTER_FLAG_TSYNC,
            &fprog as *const SockFprog,
        ) {
            0 => Ok(()),
            r if r < 0 => Err(last()),
            tid => Err(std::io::Error::other(format!(
                "thread {tid} could not take the filter (TSYNC)"
            ))),
        }
    }
}

#[cfg(test)]
mod tests;
