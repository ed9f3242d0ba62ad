//! The disk layer: `--disk FILE[,ro]`, and the disk the built-in 1K OS always has, as a
//! virtio-blk device on the virtio-mmio transport (virtio 1.2, 4.2 and 5.2) at
//! [`VIRTIO_BLK_MMIO_BASE`], interrupt line [`VIRTIO_BLK_IRQ`].
//!
//! `main` installs it when a run asks for a disk. A Multiboot kernel such as the 1K OS knows
//! the address and the line; Linux finds them in the ACPI tables a Linux boot with a disk
//! writes (boot/linux/firmware.rs), and takes the interrupt through the IOAPIC, pin 5 (KVM's
//! default routing sends GSI 5 to the 8259s' IRQ 5 and to IOAPIC pin 5 alike, and each kernel
//! listens to the one it set up).
//!
//! Before the VM starts: the image is opened, checked and locked (image.rs). Step 4 (after
//! memory): the line needs the in-kernel irqchip a kernel's boot protocol has just created;
//! the device's page joins the bus, its QueueNotify register gets a KVM_IOEVENTFD (api.rst
//! 4.59) and its line a KVM_IRQFD (api.rst 4.75) where the irqfd probe (hostcheck) sees an
//! interrupt arrive, else the device falls back to MMIO exits and KVM_IRQ_LINE (api.rst 4.25).
//! Step 7: the disk thread starts (device.rs). At the end: `--stats` lines.

use super::backend::{self, Image};
use super::blk::{Blk, SECTOR_SIZE};
use super::device::{Device, Interrupt, Watch};
use super::image;
use super::mmio::VIRTIO_MMIO_QUEUE_NOTIFY;
use super::{VIRTIO_BLK_IRQ, VIRTIO_BLK_MMIO_BASE, VIRTIO_MMIO_SIZE};
use crate::cli::Config;
use crate::console::{message, note};
use crate::error::Ending;
use crate::hostcheck::{irqfd_delivers, Works};
use crate::kvm::eventfd::EventFd;
use crate::machine::{Layer, Setup};
use crate::vcpu::{Control, Report};
use std::sync::Arc;
use std::thread::JoinHandle;

/// The test-only switch: the process ends as SIGKILL would end it right after the k-th
/// request completes (the crash tests of the disk's users).
const KILL_AFTER: &str = "MINI_KVM_TEST_KILL_AFTER_REQUESTS";
/// The test-only switch `=1`: the disk does without KVM_IOEVENTFD and KVM_IRQFD, as on a KVM
/// that has neither, so that the fallbacks are tested on every host.
const FALLBACK: &str = "MINI_KVM_TEST_DISK_FALLBACK";

/// The layer.
pub struct Disk {
    /// Until step 4 hands it to the device.
    image: Option<Image>,
    name: String,
    device: Option<Arc<Device>>,
    thread: Option<JoinHandle<()>>,
    kill_after: Option<u64>,
    /// `--trace=virtio`'s watcher.
    watch: Option<Arc<dyn Watch>>,
    stats: bool,
    /// Notifies through KVM_IOEVENTFD (else MMIO exits).
    ioeventfd: bool,
}

/// Whether the run's guest is the built-in 1K OS (not a file of that name).
fn builtin_os_1k(config: &Config) -> bool {
    matches!(config.guests.as_slice(), [g] if crate::guests::builtin(g).is_some_and(|g| g.name == "os-1k"))
}

impl Disk {
    /// The disk this run asks for, opened and checked: `--disk`, or the built-in 1K OS's.
    pub fn asked(config: &Config) -> Result<Option<Disk>, Ending> {
        let os_1k = builtin_os_1k(config);
        let image = match config.value("--disk") {
            Some(value) => {
                let (path, read_only) = image::parse(value)?;
                image::open(path, read_only, os_1k)?
            }
            None if os_1k => backend::in_memory(),
            None => return Ok(None),
        };
        let kill_after = match std::env::var(KILL_AFTER) {
            Err(_) => None,
            Ok(k) => Some(k.parse().ok().filter(|&k: &u64| k > 0).ok_or_else(|| {
                Ending::Usage(format!(
                    "{KILL_AFTER} must be a number of requests from 1, not '{k}'"
                ))
            })?),
        };
        Ok(Some(Disk {
            name: image.name.clone(),
            image: Some(image),
            device: None,
            thread: None,
            kill_after,
            // Only a run with --trace reaches the trace layer's code.
            watch: match config.flag("--trace") {
                true => crate::trace::virtio::watch(config)?,
                false => None,
            },
            stats: config.flag("--stats"),
            ioeventfd: false,
        }))
    }
}

impl Layer for Disk {
    fn after_memory(&mut self, m: &mut Setup) -> Result<(), Ending> {
        // KVM_IRQ_LINE fails (ENXIO) without an in-kernel irqchip; lowering a low line is
        // otherwise nothing.
        if m.vm.irq_line(VIRTIO_BLK_IRQ, false).is_err() {
            return Err(Ending::Usage("--disk needs the in-kernel interrupt controllers for the disk's interrupt: it is for kernels (Multiboot, such as the 1K OS, or --linux); flat guests have none".into()));
        }
        let Some(image) = self.image.take() else { return Ok(()) };
        let blk = Blk::new(image.backend, image.len, image.read_only, &image.id);
        let notify = EventFd::new(false)?;
        let at = VIRTIO_BLK_MMIO_BASE + VIRTIO_MMIO_QUEUE_NOTIFY;
        let fallback = std::env::var_os(FALLBACK).is_some_and(|v| v == "1");
        let ioeventfd = match fallback {
            true => Err(format!("{FALLBACK}=1")),
            false => m.vm.ioeventfd(&notify, at, 4).map_err(|e| e.to_string()),
        };
        self.ioeventfd = ioeventfd.is_ok();
        let probe =
            || if fallback { Works::No(format!("{FALLBACK}=1")) } else { irqfd_delivers(m.kvm) };
        let (interrupt, irqfd) = match probe() {
            Works::Yes => {
                let event = EventFd::new(false)?;
                match m.vm.irqfd(&event, VIRTIO_BLK_IRQ) {
                    Ok(()) => (Interrupt::Irqfd(event), Ok(())),
                    Err(e) => (Interrupt::Line(Arc::clone(m.vm)), Err(e.to_string())),
                }
            }
            Works::No(why) => (Interrupt::Line(Arc::clone(m.vm)), Err(why)),
        };
        let memory = Arc::clone(m.memory);
        let switches = (self.kill_after, self.watch.take());
        let device = Arc::new(Device::new(blk, notify, interrupt, memory, switches));
        m.bus.add_mmio(Arc::clone(&device) as Arc<dyn crate::devices::MmioDevice>);
        self.device = Some(device);
        note(|| {
            let mode = if image.read_only { "read-only" } else { "read-write" };
            let created =
                if image.created { ", created from the built-in 1K OS image" } else { "" };
            let end = VIRTIO_BLK_MMIO_BASE + VIRTIO_MMIO_SIZE - 1;
            format!("disk: {}: {} bytes ({} sectors), {mode}{created}; virtio-blk on virtio-mmio at {VIRTIO_BLK_MMIO_BASE:#x}-{end:#x}, IRQ {VIRTIO_BLK_IRQ}", image.name, image.len, image.len / SECTOR_SIZE)
        });
        note(|| match &ioeventfd {
            Ok(()) => "disk: queue notifies through KVM_IOEVENTFD (no exit)".into(),
            Err(e) => format!("disk: no ioeventfd ({e}): each queue notify is an MMIO exit"),
        });
        note(|| match &irqfd {
            Ok(()) => "disk: interrupts through KVM_IRQFD (its probe saw one arrive)".into(),
            Err(why) => format!("disk: no irqfd delivery ({why}): interrupts through KVM_IRQ_LINE"),
        });
        Ok(())
    }

    fn started(&mut self, control: &Arc<Control>) -> Result<(), Ending> {
        let Some(device) = self.device.clone() else { return Ok(()) };
        let control = Arc::clone(control);
        let thread = std::thread::Builder::new().name("disk".into()).spawn(move || {
            if std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| device.serve())).is_err() {
                message("mini-kvm: error: the disk thread panicked (a bug in mini-kvm)");
                control.request_stop(None);
            }
        });
        self.thread =
            Some(thread.map_err(|e| Ending::Host(format!("starting the disk thread: {e}")))?);
        Ok(())
    }

    fn finished(&mut self, _reports: &[Report]) -> Vec<String> {
        let Some(device) = &self.device else { return Vec::new() };
        device.stop();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        match self.stats {
            true => vec![table(&self.name, device.stats(), self.ioeventfd)],
            false => Vec::new(),
        }
    }
}

mod stats;
use stats::table;

#[cfg(test)]
mod tests;
