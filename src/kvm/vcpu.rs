//! The vCPU fd: registers, `KVM_RUN`, and the shared `kvm_run` page that says why the guest
//! stopped (api.rst 4.10 KVM_RUN, 4.11-4.14 the registers, section 5 `struct kvm_run`, 8.17
//! KVM_CAP_SYNC_REGS).
//!
//! `KVM_RUN` enters the guest and returns when the guest does something KVM leaves to user
//! space. [`Vcpu::run`] decodes the page into an [`Exit`], a plain value; the bytes of port I/O
//! stay in the page, where [`Vcpu::io_data`] shows them and a device writes the answer to an
//! `in` with no copy.
//!
//! Kicking a vCPU out of `KVM_RUN` from another thread ([`Kick`]) takes two things (api.rst 5,
//! `immediate_exit`): a signal interrupts a vCPU that is inside KVM_RUN, but one sent just
//! before the thread enters KVM_RUN would be lost; the `immediate_exit` flag makes the next
//! KVM_RUN return at once, but does nothing to a vCPU already inside. Set the flag, then
//! signal: there is no gap.

use super::bindings::*;
use super::{io, ioctl_ptr, ioctl_val, ior, iow, KvmError, Vm};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::{addr_of, addr_of_mut, NonNull};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// Why `KVM_RUN` returned: the decoded `exit_reason` with the fields that go with it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// KVM_EXIT_IO: `count` accesses of `size` bytes to `port` (`count` > 1 for `rep ins/outs`);
    /// the bytes are in [`Vcpu::io_data`]: written by the guest (`out`), or to fill (`in`).
    Io { out: bool, port: u16, size: u8, count: u32 },
    /// KVM_EXIT_MMIO, a load or store of `len` bytes at `addr`, where no memory slot is; a
    /// load's answer goes back through [`Vcpu::set_mmio_data`].
    Mmio { addr: u64, len: u8, write: bool, data: [u8; 8] },
    /// KVM_EXIT_HLT: `hlt`, and no in-kernel interrupt controller to wake the vCPU.
    Hlt,
    /// KVM_EXIT_SHUTDOWN: a triple fault; the vCPU cannot go on.
    Shutdown,
    /// KVM_EXIT_FAIL_ENTRY: the CPU refused to enter the guest (invalid guest state).
    FailEntry { reason: u64, cpu: u32 },
    /// KVM_EXIT_INTERNAL_ERROR: KVM gave up, usually on an instruction it cannot emulate.
    InternalError { suberror: u32, ndata: u32, data: [u64; 16] },
    /// KVM_EXIT_SYSTEM_EVENT: the guest asked to shut down or reset, or crashed.
    SystemEvent { kind: u32 },
    /// KVM_EXIT_DEBUG: a single step or a breakpoint; `pc` is the next instruction's address.
    Debug { exception: u32, pc: u64 },
    /// KVM_RUN returned EINTR or EAGAIN: a kick (signal, `immediate_exit`).
    Interrupted,
    /// A known reason whose fields make no sense (port-I/O data outside the page...): a KVM bug
    /// or a mismatched `kvm_run` layout, never the guest's doing.
    Malformed { reason: u32, why: &'static str },
    /// Any other exit reason.
    Other(u32),
}

/// The mmap'd `kvm_run` region of one vCPU: the struct and the pages after it.
pub(super) struct RunPage {
    ptr: NonNull<kvm_run>,
    pub(super) size: usize,
}

// SAFETY: the page is plain shared memory. Only the vCPU's own thread reads exits from it
// (through &mut Vcpu); other threads only store to `immediate_exit`, atomically.
unsafe impl Send for RunPage {}
// SAFETY: as above: the only access through &RunPage is the atomic `immediate_exit` byte.
unsafe impl Sync for RunPage {}

impl RunPage {
    /// `kvm_run.immediate_exit`, as an atomic: another thread sets it to kick this vCPU.
    fn immediate_exit(&self) -> &AtomicU8 {
        // SAFETY: the byte lies inside the mapping, which lives as long as &self; AtomicU8 has
        // the size and alignment of u8, and every Rust access to the byte is through it.
        unsafe { AtomicU8::from_ptr(addr_of_mut!((*self.ptr.as_ptr()).immediate_exit)) }
    }

    /// The first byte of the mapping, for the pages after `kvm_run` (layers: the ring).
    pub(super) fn base(&self) -> *mut u8 {
        self.ptr.as_ptr().cast()
    }
}

impl Drop for RunPage {
    fn drop(&mut self) {
        // SAFETY: ptr and size are the mapping made in Vcpu::new; no borrow outlives the page.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.size) };
    }
}

/// One virtual CPU.
pub struct Vcpu {
    fd: OwnedFd,
    pub(super) run: Arc<RunPage>,
    /// Where the last KVM_EXIT_IO's data lies in the mapping: (offset, length).
    io: (usize, usize),
    /// KVM copies the general (`.0`) and special (`.1`) registers into the page at each exit.
    pub(super) sync: (bool, bool),
    /// Keeps the VM, and through it guest memory, alive while this vCPU can run.
    vm: Arc<Vm>,
}

impl Vcpu {
    pub(super) fn new(fd: i32, vm: Arc<Vm>) -> Result<Vcpu, KvmError> {
        // SAFETY: KVM_CREATE_VCPU just returned this fd and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let size = vm.run_size.max(std::mem::size_of::<kvm_run>());
        // SAFETY: mapping the vCPU fd at offset 0 with KVM_GET_VCPU_MMAP_SIZE's size is what
        // api.rst prescribes; the result is checked before use.
        let ptr = unsafe {
            let prot = libc::PROT_READ | libc::PROT_WRITE;
            libc::mmap(std::ptr::null_mut(), size, prot, libc::MAP_SHARED, fd.as_raw_fd(), 0)
        };
        let failed = KvmError { ioctl: "mmap kvm_run", errno: libc::ENOMEM };
        if ptr == libc::MAP_FAILED {
            return Err(KvmError {
                errno: std::io::Error::last_os_error().raw_os_error().unwrap_or(0),
                ..failed
            });
        }
        let ptr = NonNull::new(ptr.cast::<kvm_run>()).ok_or(failed)?;
        let run = Arc::new(RunPage { ptr, size });
        Ok(Vcpu { fd, run, io: (0, 0), sync: (false, false), vm })
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The VM this vCPU belongs to.
    pub fn vm(&self) -> &Arc<Vm> {
        &self.vm
    }

    pub(super) fn page(&self) -> *mut kvm_run {
        self.run.ptr.as_ptr()
    }

    // [tour:kvm-run]
    /// KVM_RUN: runs the guest until it exits, then decodes why.
    pub fn run(&mut self) -> Result<Exit, KvmError> {
        match ioctl_val(self.raw_fd(), "KVM_RUN", io(0x80), 0) {
            Err(e) if e.errno == libc::EINTR || e.errno == libc::EAGAIN => Ok(Exit::Interrupted),
            Err(e) => Err(e),
            Ok(_) => Ok(self.decode()),
        }
    }
    // [/tour:kvm-run]

    /// Reads `exit_reason` and the union member it selects.
    fn decode(&mut self) -> Exit {
        // SAFETY: KVM_RUN has returned, so KVM does not write the page until the next one,
        // which needs &mut self; exit_reason selects the union member KVM filled in.
        let (reason, exit) = unsafe { ((*self.page()).exit_reason, (*self.page()).exit) };
        match reason {
            KVM_EXIT_IO => {
                // SAFETY: `reason` is KVM_EXIT_IO: KVM filled in `io`.
                let io = unsafe { exit.io };
                let len = usize::from(io.size) * io.count as usize;
                let end = (io.data_offset as usize).saturating_add(len);
                let why = if io.direction > KVM_EXIT_IO_OUT {
                    "direction is neither KVM_EXIT_IO_IN nor KVM_EXIT_IO_OUT"
                } else if len == 0 || end > self.run.size {
                    "size * count bytes at data_offset do not lie inside the kvm_run mapping"
                } else {
                    self.io = (io.data_offset as usize, len);
                    let out = io.direction == KVM_EXIT_IO_OUT;
                    return Exit::Io { out, port: io.port, size: io.size, count: io.count };
                };
                Exit::Malformed { reason, why }
            }
            KVM_EXIT_MMIO => {
                // SAFETY: `reason` is KVM_EXIT_MMIO: KVM filled in `mmio`.
                let m = unsafe { exit.mmio };
                match m.len {
                    1..=8 => Exit::Mmio {
                        addr: m.phys_addr,
                        len: m.len as u8,
                        write: m.is_write != 0,
                        data: m.data,
                    },
                    _ => Exit::Malformed { reason, why: "len is not 1 to 8 bytes" },
                }
            }
            KVM_EXIT_HLT => Exit::Hlt,
            KVM_EXIT_SHUTDOWN => Exit::Shutdown,
            KVM_EXIT_FAIL_ENTRY => {
                // SAFETY: `reason` is KVM_EXIT_FAIL_ENTRY: KVM filled in `fail_entry`.
                let f = unsafe { exit.fail_entry };
                Exit::FailEntry { reason: f.hardware_entry_failure_reason, cpu: f.cpu }
            }
            KVM_EXIT_INTERNAL_ERROR => {
                // SAFETY: `reason` is KVM_EXIT_INTERNAL_ERROR: `words` is its layout (see bindings.rs).
                let w = unsafe { exit.words };
                Exit::InternalError { suberror: w.kind, ndata: w.ndata.min(16), data: w.data }
            }
            KVM_EXIT_SYSTEM_EVENT => {
                // SAFETY: `reason` is KVM_EXIT_SYSTEM_EVENT, whose `type` is the first word.
                Exit::SystemEvent { kind: unsafe { exit.words }.kind }
            }
            KVM_EXIT_DEBUG => {
                // SAFETY: `reason` is KVM_EXIT_DEBUG: KVM filled in `debug`.
                let d = unsafe { exit.debug };
                Exit::Debug { exception: d.exception, pc: d.pc }
            }
            KVM_EXIT_INTR => Exit::Interrupted,
            other => Exit::Other(other),
        }
    }

    /// The bytes of the last KVM_EXIT_IO, inside the run mapping (checked when decoded).
    pub fn io_data(&mut self) -> &mut [u8] {
        let (offset, len) = self.io;
        // SAFETY: decode() checked that offset..offset+len lies inside the mapping; &mut self
        // keeps KVM (and any other borrow) away from it meanwhile.
        unsafe { std::slice::from_raw_parts_mut(self.run.base().add(offset), len) }
    }

    /// The answer to an MMIO load: KVM copies it into the guest's register at the next KVM_RUN.
    pub fn set_mmio_data(&mut self, data: [u8; 8]) {
        // SAFETY: the mmio member is the one the last exit filled; we own the page until
        // the next KVM_RUN (&mut self).
        unsafe { (*self.page()).exit.mmio.data = data };
    }

    /// Asks KVM to copy the general registers (and with `sregs` the special ones) into the page
    /// at every exit, so that reading them costs no ioctl (KVM_CAP_SYNC_REGS).
    pub fn enable_sync_regs(&mut self, sregs: bool) {
        let valid = KVM_SYNC_X86_REGS | if sregs { KVM_SYNC_X86_SREGS } else { 0 };
        // SAFETY: the field lies in the page; KVM reads it only during KVM_RUN (&mut self).
        unsafe { addr_of_mut!((*self.page()).kvm_valid_regs).write_volatile(valid) };
        self.sync = (true, sregs);
    }

    /// The general registers at the last exit: synced by KVM, else KVM_GET_REGS.
    pub fn regs_at_exit(&self) -> Result<kvm_regs, KvmError> {
        match self.sync.0 {
            // SAFETY: inside the page, and stable outside KVM_RUN (which needs &mut self).
            true => Ok(unsafe { addr_of!((*self.page()).regs).read_volatile() }),
            false => self.get_regs(),
        }
    }

    /// KVM_GET_REGS.
    pub fn get_regs(&self) -> Result<kvm_regs, KvmError> {
        let mut regs = kvm_regs::default();
        // SAFETY: KVM_GET_REGS (_IOR) writes exactly one kvm_regs.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_GET_REGS", ior::<kvm_regs>(0x81), &mut regs) }?;
        Ok(regs)
    }

    /// KVM_SET_REGS.
    pub fn set_regs(&self, regs: &kvm_regs) -> Result<(), KvmError> {
        let mut regs = *regs;
        // SAFETY: KVM_SET_REGS (_IOW) only reads one kvm_regs.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_SET_REGS", iow::<kvm_regs>(0x82), &mut regs) }?;
        Ok(())
    }

    /// KVM_GET_SREGS.
    pub fn get_sregs(&self) -> Result<kvm_sregs, KvmError> {
        let mut sregs = kvm_sregs::default();
        let request = ior::<kvm_sregs>(0x83);
        // SAFETY: KVM_GET_SREGS (_IOR) writes exactly one kvm_sregs.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_GET_SREGS", request, &mut sregs) }?;
        Ok(sregs)
    }

    /// KVM_SET_SREGS.
    pub fn set_sregs(&self, sregs: &kvm_sregs) -> Result<(), KvmError> {
        let mut sregs = *sregs;
        let request = iow::<kvm_sregs>(0x84);
        // SAFETY: KVM_SET_SREGS (_IOW) only reads one kvm_sregs.
        unsafe { ioctl_ptr(self.raw_fd(), "KVM_SET_SREGS", request, &mut sregs) }?;
        Ok(())
    }

    /// Sets or clears `immediate_exit`: the next KVM_RUN returns at once (EINTR) after
    /// completing what the last exit left pending (the I/O just answered).
    pub fn set_immediate_exit(&self, on: bool) {
        self.run.immediate_exit().store(on.into(), Ordering::SeqCst);
    }

    /// What another thread needs to kick this vCPU, which runs on the calling thread.
    pub fn kick_from_other_threads(&self) -> Kick {
        // SAFETY: pthread_self has no preconditions.
        Kick { run: Arc::clone(&self.run), thread: unsafe { libc::pthread_self() } }
    }
}

/// Kicks one vCPU thread out of KVM_RUN (see the top of this file).
pub struct Kick {
    run: Arc<RunPage>,
    thread: libc::pthread_t,
}

/// The kick signal: the first real-time signal, which nothing else here uses.
fn kick_signal() -> libc::c_int {
    libc::SIGRTMIN()
}

impl Kick {
    // [tour:kick]
    /// Sets `immediate_exit`, then signals the thread. The caller makes sure the thread still
    /// runs (machine.rs keeps kicks in a table a vCPU thread leaves before it ends).
    pub fn kick(&self) {
        self.run.immediate_exit().store(1, Ordering::SeqCst);
        // SAFETY: the thread is alive (above), so its pthread_t is valid, and the handler is
        // installed before any vCPU thread starts.
        unsafe { libc::pthread_kill(self.thread, kick_signal()) };
    }
    // [/tour:kick]
}

/// Installs the kick signal's handler, which does nothing: being delivered is what interrupts
/// KVM_RUN. No SA_RESTART, so that KVM_RUN returns EINTR.
pub fn install_kick_handler() -> std::io::Result<()> {
    extern "C" fn on_kick(_: libc::c_int) {}
    // SAFETY: a zeroed sigaction with an async-signal-safe handler that touches nothing; the
    // pointers passed live across the call.
    let ret = unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_kick as extern "C" fn(libc::c_int) as libc::sighandler_t;
        libc::sigaction(kick_signal(), &action, std::ptr::null_mut())
    };
    if ret == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exits_are_named_as_the_kernel_names_them() {
        assert_eq!(Exit::Hlt.name(), "KVM_EXIT_HLT");
        assert_eq!(Exit::Interrupted.name(), "KVM_EXIT_INTR");
        assert_eq!(Exit::Other(3).name(), "KVM_EXIT_HYPERCALL");
        assert_eq!(Exit::Other(999).name(), "KVM_EXIT_(other)");
        assert_eq!(Exit::Malformed { reason: 2, why: "x" }.name(), "KVM_EXIT_IO");
        assert_eq!(crate::kvm::names::reason_name(KVM_EXIT_SYSTEM_EVENT), "KVM_EXIT_SYSTEM_EVENT");
    }

    #[test]
    fn request_numbers_match_linux_kvm_h() {
        assert_eq!(io(0x80), 0xAE80);
        assert_eq!(ior::<kvm_regs>(0x81), 0x8090_AE81);
        assert_eq!(iow::<kvm_regs>(0x82), 0x4090_AE82);
        assert_eq!(ior::<kvm_sregs>(0x83), 0x8138_AE83);
    }
}
