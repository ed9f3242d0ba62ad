//! The eventfd checks: does a guest store to a KVM_IOEVENTFD address signal its eventfd with no
//! exit (api.rst 4.59), and does a write to a KVM_IRQFD eventfd reach a guest's IDT as an
//! interrupt (api.rst 4.75)? The capability bits only say the ioctls exist; the virtio disk
//! relies on what these probes see, and falls back to MMIO exits and KVM_IRQ_LINE otherwise.

use super::checks::{describe, LIMIT};
use super::probe::{probe_vcpu, run_probe};
use super::Works;
use crate::kvm::eventfd::{EventFd, KVM_CAP_IOEVENTFD, KVM_CAP_IRQFD};
use crate::kvm::{Exit, Kvm};
use crate::virtio::mmio::VIRTIO_MMIO_QUEUE_NOTIFY;
use crate::virtio::{VIRTIO_BLK_IRQ, VIRTIO_BLK_MMIO_BASE};

/// The irqfd probe's `out` to this port asks for the interrupt (no device claims it).
const MARK_SEND: u16 = 0x83;
/// The ioeventfd probe's stores.
const STORES: u64 = 3;

/// The ioeventfd probe: its three stores to the disk's QueueNotify address signal an eventfd
/// three times, and none of them is a KVM_EXIT_MMIO.
pub fn ioeventfd_works(kvm: &Kvm) -> Works {
    if kvm.check_extension(KVM_CAP_IOEVENTFD) <= 0 {
        return Works::No("no KVM_CAP_IOEVENTFD".into());
    }
    let mut exits = 0;
    let mut run = || -> Result<(super::probe::Outcome, u64), String> {
        let mut vcpu = probe_vcpu(kvm, "ioeventfd", true, false)?;
        let event = EventFd::new(true).map_err(|e| e.to_string())?;
        let addr = VIRTIO_BLK_MMIO_BASE + VIRTIO_MMIO_QUEUE_NOTIFY;
        vcpu.vm().ioeventfd(&event, addr, 4).map_err(|e| e.to_string())?;
        let outcome = run_probe(&mut vcpu, LIMIT, |_, exit| {
            exits += u64::from(matches!(exit, Exit::Mmio { .. }));
            None
        });
        Ok((outcome, event.take().unwrap_or(0)))
    };
    match run() {
        Ok((Ok(0x1E), signals)) if exits == 0 && signals == STORES => Works::Yes,
        Ok((Ok(0x1E), signals)) => {
            Works::No(format!("{exits} of {STORES} stores exited, {signals} signalled"))
        }
        Ok((outcome, _)) => Works::No(describe(&outcome)),
        Err(e) => Works::No(e),
    }
}

/// The irqfd probe: a write to an eventfd registered with KVM_IRQFD on the disk's GSI
/// reaches the probe's IDT through the in-kernel 8259 (the probe then exits with 5).
pub fn irqfd_delivers(kvm: &Kvm) -> Works {
    if kvm.check_extension(KVM_CAP_IRQFD) <= 0 {
        return Works::No("no KVM_CAP_IRQFD".into());
    }
    let mut vcpu = match probe_vcpu(kvm, "irqfd", true, true) {
        Ok(vcpu) => vcpu,
        Err(e) => return Works::No(e),
    };
    let event = match EventFd::new(true) {
        Ok(event) => event,
        Err(e) => return Works::No(e.to_string()),
    };
    let outcome = match vcpu.vm().irqfd(&event, VIRTIO_BLK_IRQ) {
        Ok(()) => run_probe(&mut vcpu, LIMIT, |_, exit| match exit {
            Exit::Io { out: true, port: MARK_SEND, .. } => {
                event.signal().err().map(|e| Err(format!("writing to the irqfd: {e}")))
            }
            _ => None,
        }),
        Err(e) => Err(e.to_string()),
    };
    // KVM takes milliseconds to tear a VM down (5 to 20 on a paravirtual KVM): a thread does
    // it while the run that asked goes on (or here, should the thread not start).
    let teardown = move || drop((vcpu, event));
    let _ = std::thread::Builder::new().name("probe teardown".into()).spawn(teardown);
    match outcome {
        Ok(5) => Works::Yes,
        Err(e) if e.starts_with("no answer") => Works::No("no interrupt arrived".into()),
        other => Works::No(describe(&other)),
    }
}
