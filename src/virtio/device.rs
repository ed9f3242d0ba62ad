//! The virtio-blk device at work: its page of MMIO on the vCPUs' bus, and the disk thread
//! that serves its queue (virtio 1.2, 4.2.3 "MMIO-specific Initialization And Device
//! Operation"; api.rst 4.59 KVM_IOEVENTFD, 4.75 KVM_IRQFD, 4.25 KVM_IRQ_LINE).
//!
//! ```text
//! vCPU thread                         disk thread                      KVM
//! KVM_EXIT_MMIO in the page --------> (registers, under the lock)
//! store to QueueNotify ------------------------------------------->  KVM_IOEVENTFD: notify += 1
//!                                     read(notify) wakes
//!                                     lock; pop, pread/pwrite, push used
//!                                     InterruptStatus |= 1; irqfd += 1 ->  KVM_IRQFD: IRQ 5
//! ```
//!
//! One lock holds the register file, the block device and the queue: the disk thread takes it
//! for a batch of requests, a vCPU for one register access. So a reset (Status 0) cannot return
//! to the guest while a batch is still using the rings the driver is about to free. Where KVM
//! gives no ioeventfd, QueueNotify is an MMIO exit and the vCPU writes the same eventfd; where
//! no irqfd delivers, the disk thread pulses the line with KVM_IRQ_LINE.

use super::backend::Backend;
use super::blk::{Blk, BlkStats, OnServed, Served};
use super::mmio::{MmioTransport, TransportStats, WriteEffect, VIRTIO_MMIO_INT_VRING};
use super::queue::{Chain, QueueConfig, SplitQueue};
use super::{GuestRam, VIRTIO_BLK_IRQ, VIRTIO_BLK_MMIO_BASE, VIRTIO_MMIO_SIZE};
use crate::boot::{HIGH_RAM_START, LOW_RAM_END};
use crate::devices::MmioDevice;
use crate::kvm::eventfd::EventFd;
use crate::kvm::Vm;
use crate::memory::{GuestMemory, MemoryError};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// How the device raises its interrupt.
pub enum Interrupt {
    /// A write to an eventfd registered with KVM_IRQFD.
    Irqfd(EventFd),
    /// KVM_IRQ_LINE 1 then 0: an edge, as KVM_IRQFD makes.
    Line(Arc<Vm>),
}

impl Interrupt {
    fn pulse(&self) {
        // Each fails only if the irqchip is gone, which the VM's lifetime rules out.
        match self {
            Interrupt::Irqfd(event) => drop(event.signal()),
            Interrupt::Line(vm) => {
                let _ = vm.irq_line(VIRTIO_BLK_IRQ, true);
                let _ = vm.irq_line(VIRTIO_BLK_IRQ, false);
            }
        }
    }
}

/// What the device does, told as it happens to whoever watches it (`--trace=virtio`: the
/// trace layer's trace/virtio.rs puts it into words). Called on the thread that does it, with
/// the device's lock held.
pub trait Watch: Send + Sync {
    /// The driver set DRIVER_OK: the queue is where `queue` says.
    fn queue_ready(&self, queue: &QueueConfig);
    /// A request went back to the used ring: its chain (the device's copy) and what it did.
    fn served(&self, chain: &Chain, served: &Served);
    /// The device raised its interrupt (through KVM_IRQFD if `irqfd`, else KVM_IRQ_LINE).
    fn interrupt(&self, irqfd: bool);
}

/// Guest RAM as the device may use it: the mapping, less the hole below 4 GiB that a guest
/// with more than 3 GiB has in it (no memory slot covers it: it is not RAM).
pub struct DeviceRam(pub Arc<GuestMemory>);

impl DeviceRam {
    fn check(&self, gpa: u64, len: usize) -> Result<(), MemoryError> {
        let end = gpa.saturating_add(len as u64);
        let in_hole = self.0.size() > LOW_RAM_END && gpa < HIGH_RAM_START && end > LOW_RAM_END;
        match in_hole {
            true => Err(MemoryError::OutOfBounds { gpa, len: len as u64, size: self.0.size() }),
            false => Ok(()),
        }
    }
}

impl GuestRam for DeviceRam {
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        self.check(gpa, buf.len())?;
        self.0.read(gpa, buf)
    }
    fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        self.check(gpa, data.len())?;
        self.0.write(gpa, data)
    }
}

/// What the lock holds.
struct State {
    transport: MmioTransport,
    blk: Blk<Backend>,
    /// The request queue while the driver runs it (DRIVER_OK), else `None`.
    queue: Option<SplitQueue>,
}

/// The virtio-blk device of one VM.
pub struct Device {
    state: Mutex<State>,
    /// The disk thread waits on it; KVM (ioeventfd) or a vCPU (an MMIO exit) signals it.
    notify: EventFd,
    interrupt: Interrupt,
    memory: DeviceRam,
    stop: AtomicBool,
    /// The test-only switch: end the process abruptly after this many requests.
    kill_after: Option<u64>,
    watch: Option<Arc<dyn Watch>>,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    // The state stays consistent even if a thread panicked holding the lock.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Device {
    pub fn new(
        blk: Blk<Backend>,
        notify: EventFd,
        interrupt: Interrupt,
        memory: Arc<GuestMemory>,
        (kill_after, watch): (Option<u64>, Option<Arc<dyn Watch>>),
    ) -> Device {
        let state = State { transport: blk.transport(), blk, queue: None };
        Device {
            state: Mutex::new(state),
            notify,
            interrupt,
            memory: DeviceRam(memory),
            stop: AtomicBool::new(false),
            kill_after,
            watch,
        }
    }

    /// The offset of an access of `len` bytes at `addr` into the page, if it is inside it.
    fn offset(addr: u64, len: usize) -> Option<u64> {
        let offset = addr.checked_sub(VIRTIO_BLK_MMIO_BASE)?;
        (offset.checked_add(len as u64)? <= VIRTIO_MMIO_SIZE).then_some(offset)
    }

    // [tour:serve]
    /// The disk thread's body: wait for a notify, serve the queue, until [`Device::stop`].
    pub fn serve(&self) {
        while self.notify.take().is_ok() && !self.stop.load(Ordering::SeqCst) {
            while self.serve_batch() && !self.stop.load(Ordering::SeqCst) {}
        }
    }
    // [/tour:serve]

    /// Serves up to a queue's worth of requests; `true` if more may be waiting.
    fn serve_batch(&self) -> bool {
        let mut guard = lock(&self.state);
        let State { transport, blk, queue } = &mut *guard;
        let Some(q) = queue.as_mut() else { return false };
        let size = u32::from(q.config().size);
        let left = self.kill_after.map(|k| k.saturating_sub(blk.stats().requests));
        let limit = left.map_or(size, |left| size.min(left.max(1) as u32));
        let mut watch = self.watch.as_ref().map(|w| move |c: &Chain, s: &Served| w.served(c, s));
        let watch = watch.as_mut().map(|w| w as OnServed<'_>);
        match blk.process_queue_upto(q, &self.memory, limit, watch) {
            Ok(done) => {
                if self.kill_after.is_some_and(|k| blk.stats().requests >= k) {
                    kill();
                }
                if done.interrupt {
                    transport.raise_interrupt(VIRTIO_MMIO_INT_VRING);
                    self.interrupt.pulse();
                    if let Some(w) = &self.watch {
                        w.interrupt(matches!(self.interrupt, Interrupt::Irqfd(_)));
                    }
                }
                done.more
            }
            Err(_) => {
                // A broken ring: the driver must reset the device (2.1.2); until then the
                // queue is not touched again.
                *queue = None;
                if transport.set_needs_reset() {
                    self.interrupt.pulse();
                }
                false
            }
        }
    }

    /// Ends the disk thread (after the batch it is in).
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.notify.signal();
    }

    /// The counters for `--stats`.
    pub fn stats(&self) -> (BlkStats, TransportStats) {
        let s = lock(&self.state);
        (s.blk.stats(), s.transport.stats())
    }
}

/// MINI_KVM_TEST_KILL_AFTER_REQUESTS: the process ends at once, as SIGKILL ends it (no
/// destructor, no flush: what a crash or `kill -9` leaves on the disk).
fn kill() {
    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
}

impl MmioDevice for Device {
    fn read(&self, addr: u64, data: &mut [u8]) -> bool {
        let Some(offset) = Device::offset(addr, data.len()) else { return false };
        lock(&self.state).transport.read(offset, data);
        true
    }

    fn write(&self, addr: u64, data: &[u8]) -> bool {
        let Some(offset) = Device::offset(addr, data.len()) else { return false };
        let mut guard = lock(&self.state);
        let s = &mut *guard;
        match s.transport.write(offset, data) {
            WriteEffect::DriverOk => {
                s.blk.activate(s.transport.driver_features());
                s.queue = s.transport.queue_config(0).map(SplitQueue::new);
                if let (Some(w), Some(q)) = (&self.watch, &s.queue) {
                    w.queue_ready(&q.config());
                }
            }
            WriteEffect::Reset | WriteEffect::QueueDisabled(_) => s.queue = None,
            // Without KVM_IOEVENTFD the notify is this exit: wake the disk thread.
            WriteEffect::QueueNotify(_) => drop(self.notify.signal()),
            _ => {}
        }
        true
    }
}

#[cfg(test)]
mod tests;
