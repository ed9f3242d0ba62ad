//! The vCPU fd: registers, `KVM_RUN`, and the shared `kvm_run` page that says why the guest
//! stopped (decoded here into the [`VmExit`] of `exit.rs`).
//!
//! api.rst 4.10 (KVM_RUN), 4.11-4.14 (KVM_GET/SET_REGS, KVM_GET/SET_SREGS), 4.15 (KVM_TRANSLATE),
//! 4.20 (KVM_SET_CPUID2), 4.59 (KVM_SET_GUEST_DEBUG), section 5 (the kvm_run structure) and 8.17
//! (KVM_CAP_SYNC_REGS).
//!
//! `KVM_RUN` enters the guest and returns when the guest does something KVM leaves to user space.
//! The reason and its details are in the `kvm_run` page, mmap'd from the vCPU fd. [`Vcpu::run`]
//! returns them as a [`VmExit`] that borrows that page for the length of one exit, so a device
//! writes the answer to a guest `in` straight into the page with no copy.

use super::bindings::*;
use super::coalesced::CoalescedRing;
use super::exit::{get_regs, ExitRegs, VmExit};
use super::ioctl::*;
use super::{ioctl_with_mut, ioctl_with_ref, ioctl_with_val, KvmError, Vm};
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::ptr::{addr_of, addr_of_mut, NonNull};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

/// The mmap'd `kvm_run` region of one vCPU (the struct plus the pages after it).
pub(super) struct RunPage {
    ptr: NonNull<kvm_run>,
    size: usize,
}

// SAFETY: the page is plain shared memory. The vCPU thread is the only one that reads exits from
// it (through &mut Vcpu); other threads only store to `immediate_exit`, atomically.
unsafe impl Send for RunPage {}
// SAFETY: see above: the only access through &RunPage is the atomic immediate_exit byte.
unsafe impl Sync for RunPage {}

impl RunPage {
    fn map(fd: RawFd, size: usize) -> Result<RunPage, KvmError> {
        if size < std::mem::size_of::<kvm_run>() {
            return Err(KvmError {
                ioctl: "mmap kvm_run",
                errno: libc::EINVAL,
            });
        }
        // SAFETY: mapping the vCPU fd at offset 0 with the size KVM_GET_VCPU_MMAP_SIZE gave is
        // what api.rst prescribes; the result is checked before use.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                fd,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(KvmError::last("mmap kvm_run"));
        }
        let ptr = NonNull::new(ptr.cast::<kvm_run>()).ok_or(KvmError {
            ioctl: "mmap kvm_run",
            errno: libc::ENOMEM,
        })?;
        Ok(RunPage { ptr, size })
    }

    /// `kvm_run.immediate_exit`, as an atomic: another thread sets it to kick this vCPU.
    pub(super) fn immediate_exit(&self) -> &AtomicU8 {
        // SAFETY: the byte lies inside the mapping, which lives as long as &self; AtomicU8 has
        // the alignment and size of u8; all Rust accesses to this byte go through this atomic.
        unsafe { AtomicU8::from_ptr(addr_of_mut!((*self.ptr.as_ptr()).immediate_exit)) }
    }
}

impl Drop for RunPage {
    fn drop(&mut self) {
        // SAFETY: ptr/size are exactly the mapping created in map(), and no borrow of it can
        // outlive the RunPage (VmExit borrows the Vcpu that owns the Arc).
        unsafe {
            libc::munmap(self.ptr.as_ptr().cast(), self.size);
        }
    }
}

/// Where the data of a KVM_EXIT_IO lies in a run mapping of `mapped` bytes: `(offset, len)`,
/// or why the exit makes no sense. KVM puts the data inside the mapping; this checks anyway
/// rather than trust a number before making a slice of it.
fn io_data(io: &kvm_run_io, mapped: usize) -> Result<(usize, usize), &'static str> {
    if io.direction != KVM_EXIT_IO_IN && io.direction != KVM_EXIT_IO_OUT {
        return Err("direction is neither KVM_EXIT_IO_IN nor KVM_EXIT_IO_OUT");
    }
    let len = usize::from(io.size) * io.count as usize;
    if len == 0 {
        return Err("size * count is 0: no data to move");
    }
    let offset = usize::try_from(io.data_offset).unwrap_or(usize::MAX);
    match offset.checked_add(len) {
        Some(end) if end <= mapped => Ok((offset, len)),
        _ => Err("data_offset + size * count lies outside the kvm_run mapping"),
    }
}

/// One virtual CPU.
pub struct Vcpu {
    fd: OwnedFd,
    run: Arc<RunPage>,
    /// KVM_SYNC_X86_REGS is set in `kvm_valid_regs`: KVM copies the registers out on each exit.
    sync_regs: bool,
    /// KVM_SYNC_X86_SREGS is set too (only while tracing: it costs KVM a copy per exit).
    sync_sregs: bool,
    /// Keeps the VM, and through it guest memory, alive while this vCPU can run.
    _vm: Arc<Vm>,
}

impl Vcpu {
    pub(super) fn new(fd: i32, vm: Arc<Vm>) -> Result<Vcpu, KvmError> {
        // SAFETY: KVM_CREATE_VCPU just returned this fd and nothing else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let run = Arc::new(RunPage::map(fd.as_raw_fd(), vm.run_size())?);
        Ok(Vcpu {
            fd,
            run,
            sync_regs: false,
            sync_sregs: false,
            _vm: vm,
        })
    }

    pub(super) fn run_page(&self) -> &Arc<RunPage> {
        &self.run
    }

    /// Asks KVM to copy the general registers (and with `with_sregs` the special registers too)
    /// into `kvm_run.s` on every exit (KVM_CAP_SYNC_REGS), so reading them costs no ioctl.
    pub fn enable_sync_regs(&mut self, with_sregs: bool) {
        let run = self.run.ptr.as_ptr();
        let mut valid = KVM_SYNC_X86_REGS;
        if with_sregs {
            valid |= KVM_SYNC_X86_SREGS;
        }
        // SAFETY: kvm_valid_regs lies inside the mapping; only this thread writes it, and KVM
        // reads it only during KVM_RUN, which needs &mut self.
        unsafe { addr_of_mut!((*run).kvm_valid_regs).write_volatile(valid) };
        self.sync_regs = true;
        self.sync_sregs = with_sregs;
    }

    /// The special registers KVM synced at the last exit, if enabled.
    pub fn synced_sregs(&self) -> Option<kvm_sregs> {
        if !self.sync_sregs {
            return None;
        }
        // SAFETY: as in synced_regs: inside the mapping, and stable outside KVM_RUN.
        Some(unsafe { addr_of!((*self.run.ptr.as_ptr()).s.sregs).read_volatile() })
    }

    /// The registers KVM synced at the last exit, if sync is enabled.
    pub fn synced_regs(&self) -> Option<kvm_regs> {
        if !self.sync_regs {
            return None;
        }
        // SAFETY: s.regs lies inside the mapping and KVM writes it only during KVM_RUN, which
        // needs &mut self, so nothing changes it while we copy.
        Some(unsafe { addr_of!((*self.run.ptr.as_ptr()).s.regs).read_volatile() })
    }

    /// RIP as KVM synced it at the last exit, if sync is enabled: one word, for the crash
    /// report's ring of recent exits (fault/ring.rs), which the run loop fills on every exit.
    #[inline]
    pub fn synced_rip(&self) -> Option<u64> {
        if !self.sync_regs {
            return None;
        }
        // SAFETY: as in synced_regs: s.regs.rip lies inside the mapping and KVM writes it only
        // during KVM_RUN, which needs &mut self.
        Some(unsafe { addr_of!((*self.run.ptr.as_ptr()).s.regs.rip).read_volatile() })
    }

    /// KVM_GET_REGS.
    pub fn get_regs(&self) -> Result<kvm_regs, KvmError> {
        get_regs(self.fd.as_raw_fd())
    }

    /// KVM_SET_REGS.
    pub fn set_regs(&self, regs: &kvm_regs) -> Result<(), KvmError> {
        // SAFETY: KVM_SET_REGS (_IOW) only reads one kvm_regs.
        unsafe { ioctl_with_ref(self.fd.as_raw_fd(), "KVM_SET_REGS", KVM_SET_REGS, regs) }
            .map(|_| ())
    }

    /// KVM_GET_SREGS.
    pub fn get_sregs(&self) -> Result<kvm_sregs, KvmError> {
        let mut sregs = kvm_sregs::default();
        // SAFETY: KVM_GET_SREGS writes exactly one kvm_sregs.
        unsafe {
            ioctl_with_mut(
                self.fd.as_raw_fd(),
                "KVM_GET_SREGS",
                KVM_GET_SREGS,
                &mut sregs,
            )?
        };
        Ok(sregs)
    }

    /// KVM_SET_SREGS.
    pub fn set_sregs(&self, sregs: &kvm_sregs) -> Result<(), KvmError> {
        // SAFETY: KVM_SET_SREGS (_IOW) only reads one kvm_sregs.
        unsafe { ioctl_with_ref(self.fd.as_raw_fd(), "KVM_SET_SREGS", KVM_SET_SREGS, sregs) }
            .map(|_| ())
    }

    /// KVM_GET_MP_STATE: KVM_MP_STATE_HALTED while the vCPU waits in HLT (in-kernel irqchip).
    pub fn get_mp_state(&self) -> Result<u32, KvmError> {
        let mut state = kvm_mp_state::default();
        // SAFETY: KVM_GET_MP_STATE writes exactly one kvm_mp_state.
        unsafe {
            ioctl_with_mut(
                self.fd.as_raw_fd(),
                "KVM_GET_MP_STATE",
                KVM_GET_MP_STATE,
                &mut state,
            )?
        };
        Ok(state.mp_state)
    }

    /// KVM_SET_CPUID2: what CPUID returns inside the guest. A table claiming more entries than
    /// it holds is refused with E2BIG, as KVM refuses more than its own maximum.
    pub fn set_cpuid2(&self, table: &CpuidTable) -> Result<(), KvmError> {
        if table.header.nent as usize > table.entries.len() {
            return Err(KvmError {
                ioctl: "KVM_SET_CPUID2",
                errno: libc::E2BIG,
            });
        }
        // SAFETY: KVM_SET_CPUID2 (_IOW) only reads a kvm_cpuid2 header and the `nent` entries
        // after it. `table` starts with the header (bindings.rs asserts the layout) and holds
        // that many entries (checked above), so KVM reads only inside `table`.
        unsafe { ioctl_with_ref(self.fd.as_raw_fd(), "KVM_SET_CPUID2", KVM_SET_CPUID2, table) }
            .map(|_| ())
    }

    /// KVM_TRANSLATE: walk the guest's current page tables for `linear`.
    pub fn translate(&self, linear: u64) -> Result<kvm_translation, KvmError> {
        let mut tr = kvm_translation {
            linear_address: linear,
            ..Default::default()
        };
        // SAFETY: KVM_TRANSLATE reads and writes exactly one kvm_translation.
        unsafe { ioctl_with_mut(self.fd.as_raw_fd(), "KVM_TRANSLATE", KVM_TRANSLATE, &mut tr)? };
        Ok(tr)
    }

    /// KVM_SET_GUEST_DEBUG: `control` is a KVM_GUESTDBG_* mask (0 turns debugging off).
    pub fn set_guest_debug(&self, control: u32) -> Result<(), KvmError> {
        self.set_guest_debug_regs(control, [0; 8])
    }

    /// KVM_SET_GUEST_DEBUG with the debug registers the host loads for the guest while
    /// KVM_GUESTDBG_USE_HW_BP is set: DR0-DR3 addresses, DR7 their enables (`debugreg[7]`).
    pub fn set_guest_debug_regs(&self, control: u32, debugreg: [u64; 8]) -> Result<(), KvmError> {
        let dbg = kvm_guest_debug {
            control,
            debugreg,
            ..Default::default()
        };
        // SAFETY: KVM_SET_GUEST_DEBUG (_IOW) only reads one kvm_guest_debug.
        unsafe {
            ioctl_with_ref(
                self.fd.as_raw_fd(),
                "KVM_SET_GUEST_DEBUG",
                KVM_SET_GUEST_DEBUG,
                &dbg,
            )
        }
        .map(|_| ())
    }

    /// The VM's coalesced MMIO/PIO ring, which this vCPU's mapping shows at page `page` (the
    /// value of KVM_CAP_COALESCED_MMIO); `None` if the mapping does not reach that far.
    pub fn coalesced_ring(&self, page: u32) -> Option<CoalescedRing> {
        let offset = (page as usize).checked_mul(KVM_COALESCED_PAGE_SIZE)?;
        if page == 0 || offset.checked_add(KVM_COALESCED_PAGE_SIZE)? > self.run.size {
            return None;
        }
        // SAFETY: offset + one page lies inside the mapping (checked above), which the ring
        // keeps alive through its Arc<RunPage>.
        let ptr = unsafe { self.run.ptr.as_ptr().cast::<u8>().add(offset) };
        Some(CoalescedRing::new(
            Arc::clone(&self.run),
            NonNull::new(ptr)?,
        ))
    }

    /// Clears `kvm_run.immediate_exit` after a kick has been handled, so KVM_RUN enters again.
    pub fn clear_immediate_exit(&self) {
        self.run.immediate_exit().store(0, Ordering::SeqCst);
    }

    /// KVM_RUN with `immediate_exit` set: KVM finishes what the last exit left pending (the
    /// I/O or MMIO access user space just completed, and the instruction's end, api.rst 5
    /// "immediate_exit") and returns without entering the guest again. A single step that the
    /// instruction completes is reported now, as KVM_EXIT_DEBUG; otherwise it returns
    /// `Interrupted`.
    pub fn complete_pending(&mut self) -> Result<VmExit<'_>, KvmError> {
        self.run.immediate_exit().store(1, Ordering::SeqCst);
        let result = ioctl_with_val(self.fd.as_raw_fd(), "KVM_RUN", KVM_RUN, 0);
        self.run.immediate_exit().store(0, Ordering::SeqCst);
        if let Err(e) = result {
            return match e.errno {
                libc::EINTR | libc::EAGAIN => Ok(VmExit::Interrupted),
                _ => Err(e),
            };
        }
        Ok(self.decode_exit())
    }

    /// KVM_RUN: run the guest until it exits, then decode why.
    // [tour:kvm-run]
    pub fn run(&mut self) -> Result<VmExit<'_>, KvmError> {
        if let Err(e) = ioctl_with_val(self.fd.as_raw_fd(), "KVM_RUN", KVM_RUN, 0) {
            return match e.errno {
                libc::EINTR | libc::EAGAIN => Ok(VmExit::Interrupted),
                _ => Err(e),
            };
        }
        Ok(self.decode_exit())
    }
    // [/tour:kvm-run]

    /// Reads `kvm_run.exit_reason` and decodes the member of the exit union it selects into a
    /// [`VmExit`] that borrows the page.
    ///
    /// Every raw access here and in the `decode_*` helpers reads the mapping, which is
    /// `run.size` bytes long and lives as long as self.run. KVM writes it only inside KVM_RUN,
    /// which needs &mut self, and the borrows returned keep &mut self, so nothing changes under
    /// them. We never form a reference to the whole kvm_run, so the atomic immediate_exit byte
    /// other threads store to is never aliased.
    fn decode_exit(&mut self) -> VmExit<'_> {
        let base = self.run.ptr.as_ptr();
        // SAFETY: see above; exit_reason and the exit union are inside the mapping.
        let (reason, exit) = unsafe {
            (
                addr_of!((*base).exit_reason).read_volatile(),
                addr_of_mut!((*base).exit),
            )
        };
        match reason {
            // SAFETY: KVM_EXIT_IO means the `io` member of the union is the valid one.
            KVM_EXIT_IO => self.decode_io(unsafe { (*exit).io }),
            // SAFETY: KVM_EXIT_MMIO means the `mmio` member is the valid one; it is plain bytes
            // inside the mapping, borrowed exclusively via &mut self.
            KVM_EXIT_MMIO => decode_mmio(unsafe { &mut *addr_of_mut!((*exit).mmio) }),
            KVM_EXIT_HLT => VmExit::Hlt,
            KVM_EXIT_SHUTDOWN => VmExit::Shutdown,
            KVM_EXIT_FAIL_ENTRY => {
                // SAFETY: KVM_EXIT_FAIL_ENTRY means `fail_entry` is the valid member.
                let f = unsafe { (*exit).fail_entry };
                VmExit::FailEntry {
                    reason: f.hardware_entry_failure_reason,
                    cpu: f.cpu,
                }
            }
            // SAFETY: KVM_EXIT_INTERNAL_ERROR means `internal` is the valid member; it lies
            // inside the mapping, borrowed via &mut self.
            KVM_EXIT_INTERNAL_ERROR => decode_internal(unsafe { &*addr_of!((*exit).internal) }),
            KVM_EXIT_SYSTEM_EVENT => {
                // SAFETY: KVM_EXIT_SYSTEM_EVENT means `system_event` is the valid member.
                let kind = unsafe { (*exit).system_event.type_ };
                VmExit::SystemEvent { kind }
            }
            KVM_EXIT_DEBUG => {
                // SAFETY: KVM_EXIT_DEBUG means `debug` is the valid member.
                let d = unsafe { (*exit).debug };
                VmExit::Debug {
                    exception: d.exception,
                    pc: d.pc,
                }
            }
            KVM_EXIT_INTR => VmExit::Interrupted,
            other => VmExit::Other(other),
        }
    }

    /// KVM_EXIT_IO: the data of the access sits elsewhere in the mapping, at `io.data_offset`,
    /// so it is checked to lie inside before it becomes a slice. An `out` also carries the
    /// registers, since the hypercall device reads AL and BL.
    fn decode_io(&mut self, io: kvm_run_io) -> VmExit<'_> {
        let base = self.run.ptr.as_ptr();
        let (offset, len) = match io_data(&io, self.run.size) {
            Ok(range) => range,
            Err(why) => {
                return VmExit::Malformed {
                    reason: KVM_EXIT_IO,
                    why,
                }
            }
        };
        // SAFETY: io_data checked that offset + len lies inside the mapping.
        let data = unsafe { base.cast::<u8>().add(offset) };
        if io.direction == KVM_EXIT_IO_IN {
            return VmExit::IoIn {
                port: io.port,
                size: io.size,
                // SAFETY: in bounds (io_data) and borrowed exclusively via &mut self.
                data: unsafe { std::slice::from_raw_parts_mut(data, len) },
            };
        }
        let regs = if self.sync_regs {
            // SAFETY: s.regs lies inside the mapping, valid while &mut self is held.
            ExitRegs::Synced(unsafe { &*addr_of!((*base).s.regs) })
        } else {
            ExitRegs::Fetch(self.fd.as_fd())
        };
        VmExit::IoOut {
            port: io.port,
            size: io.size,
            // SAFETY: in bounds (io_data); the data page is disjoint from s.regs.
            data: unsafe { std::slice::from_raw_parts(data, len) },
            regs,
        }
    }
}

/// KVM_EXIT_MMIO: up to 8 bytes inline in the exit union, which the device reads (a store) or
/// fills in (a load) in place; `len` is clamped so a bad length cannot reach past `data`.
fn decode_mmio(mmio: &mut kvm_run_mmio) -> VmExit<'_> {
    let addr = mmio.phys_addr;
    let is_write = mmio.is_write != 0;
    let len = (mmio.len as usize).min(mmio.data.len());
    let data = &mut mmio.data[..len];
    if is_write {
        VmExit::MmioWrite { addr, data }
    } else {
        VmExit::MmioRead { addr, data }
    }
}

/// KVM_EXIT_INTERNAL_ERROR: the suberror and the `ndata` words of detail KVM filled in
/// (clamped to the array, so a bad count cannot reach past it).
fn decode_internal(internal: &kvm_run_internal) -> VmExit<'_> {
    let n = (internal.ndata as usize).min(internal.data.len());
    VmExit::InternalError {
        suberror: internal.suberror,
        data: &internal.data[..n],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn io(direction: u8, size: u8, count: u32, data_offset: u64) -> kvm_run_io {
        kvm_run_io {
            direction,
            size,
            port: 0x3F8,
            count,
            data_offset,
        }
    }

    #[test]
    fn io_data_inside_the_mapping_is_taken() {
        assert_eq!(
            io_data(&io(KVM_EXIT_IO_OUT, 1, 1, 4096), 8192),
            Ok((4096, 1))
        );
        // A `rep insw` of 2048 words fills the data page exactly.
        assert_eq!(
            io_data(&io(KVM_EXIT_IO_IN, 2, 2048, 4096), 8192),
            Ok((4096, 4096))
        );
    }

    #[test]
    fn io_data_that_makes_no_sense_is_malformed() {
        let outside = io_data(&io(KVM_EXIT_IO_OUT, 4, 1, 8190), 8192).unwrap_err();
        assert!(outside.contains("outside"), "{outside}");
        let wraps = io_data(&io(KVM_EXIT_IO_OUT, 4, 1, u64::MAX), 8192).unwrap_err();
        assert!(wraps.contains("outside"), "{wraps}");
        let empty = io_data(&io(KVM_EXIT_IO_IN, 1, 0, 4096), 8192).unwrap_err();
        assert!(empty.contains("0"), "{empty}");
        let direction = io_data(&io(7, 1, 1, 4096), 8192).unwrap_err();
        assert!(direction.contains("direction"), "{direction}");
    }
}
