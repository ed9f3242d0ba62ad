//! The virtio-mmio transport, version 2 (virtio 1.2, 4.2 "Virtio Over MMIO"): the registers a
//! driver reads and writes to find, set up and drive a virtio device, as a pure state machine.
//!
//! Each register is 32 bits at a fixed offset of the device's page (4.2.2, table "MMIO Device
//! Register Layout"); each guest access to the page is a KVM_EXIT_MMIO, which the machine hands
//! to [`MmioTransport::read`] or [`MmioTransport::write`]. A write returns a [`WriteEffect`]
//! saying what the machine must do about it (a queue was notified, the device was reset, the
//! driver is ready); the state machine itself touches neither guest RAM nor any file.
//!
//! | offset | register | | what an access does here |
//! |---|---|---|---|
//! | 0x000 | MagicValue | R | 0x74726976, "virt" |
//! | 0x004 | Version | R | 2 (1 was the legacy layout) |
//! | 0x008 | DeviceID | R | 2 for a block device |
//! | 0x00c | VendorID | R | [`VENDOR_ID`] |
//! | 0x010 | DeviceFeatures | R | 32 feature bits, the half DeviceFeaturesSel (0x014) picks |
//! | 0x020 | DriverFeatures | W | the driver's half of its choice (DriverFeaturesSel, 0x024) |
//! | 0x030 | QueueSel | W | which queue the queue registers below mean |
//! | 0x034 | QueueNumMax | R | the largest size the device takes; 0: no such queue |
//! | 0x038 | QueueNum | W | the size the driver chose |
//! | 0x044 | QueueReady | RW | 1: the queue is set up; checked (2.7) before it is accepted |
//! | 0x050 | QueueNotify | W | "new buffers in queue N": [`WriteEffect::QueueNotify`] |
//! | 0x060 | InterruptStatus | R | bit 0 used buffers, bit 1 configuration changed |
//! | 0x064 | InterruptACK | W | clears those bits |
//! | 0x070 | Status | RW | the driver's progress (2.1); 0 resets the device |
//! | 0x080-0x0a4 | QueueDesc/Driver/Device Low, High | W | the queue's three areas |
//! | 0x0ac-0x0bc | SHMSel, SHMLen, SHMBase | | no shared memory regions: all ones |
//! | 0x0fc | ConfigGeneration | R | 0: the configuration never changes |
//! | 0x100+ | Config | R | the device's configuration space (virtio-blk: its capacity) |
//!
//! The driver must use aligned 32-bit accesses for the registers (4.2.2.2); other widths read 0
//! and are not written. Feature negotiation (3.1.1): the driver reads the device's features,
//! writes its subset and sets FEATURES_OK; the device keeps FEATURES_OK set only if the subset
//! is one it offered and includes VIRTIO_F_VERSION_1, and the driver re-reads Status to see.
//! While a queue is ready, its registers are not the driver's to change (4.2.2.2); once
//! DRIVER_OK is set the device works from a snapshot of them ([`MmioTransport::queue_config`]).

use super::queue::{QueueConfig, QueueConfigError};
use super::{
    feature, VIRTIO_CONFIG_S_DRIVER_OK, VIRTIO_CONFIG_S_FEATURES_OK, VIRTIO_CONFIG_S_NEEDS_RESET,
    VIRTIO_F_VERSION_1,
};

mod registers;
pub use registers::*;

/// What a register write means for the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteEffect {
    /// Stored; nothing for the machine to do.
    Done,
    /// The driver made buffers available in this (ready) queue: process it. With KVM_IOEVENTFD
    /// on QueueNotify these writes never reach mini-kvm as exits.
    QueueNotify(u16),
    /// The driver acknowledged `acked` bits; `pending` bits remain in InterruptStatus.
    InterruptAck { acked: u32, pending: u32 },
    /// Status 0: the device is reset. The machine must stop using the queues (and finish or
    /// drop the request in flight) before the next access to the device.
    Reset,
    /// The driver set DRIVER_OK: start serving the ready queues ([`MmioTransport::queue_config`])
    /// with the negotiated features ([`MmioTransport::driver_features`]).
    DriverOk,
    /// The driver wrote 0 to a ready queue's QueueReady after DRIVER_OK: stop serving it.
    QueueDisabled(u16),
    /// The driver asked for FEATURES_OK with features the device does not accept; Status keeps
    /// FEATURES_OK clear, which tells the driver (3.1.1, step 6).
    FeaturesRefused { driver: u64 },
    /// The write was not taken.
    Ignored(Refusal),
}

/// Why a register write was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not an aligned 32-bit access to a register.
    Width,
    /// A read-only register, the configuration space, or an offset with no register.
    ReadOnly,
    /// QueueSel names a queue the device does not have.
    NoSuchQueue,
    /// The selected queue is ready, or the driver is running: its registers are fixed.
    QueueLive,
    /// QueueReady 1 for a queue that breaks 2.7.
    BadQueue(QueueConfigError),
    /// QueueNotify for a queue that is not ready, or before DRIVER_OK.
    NotRunning,
    /// DriverFeatures after FEATURES_OK.
    FeaturesLocked,
    /// DRIVER_OK without FEATURES_OK.
    NoFeaturesOk,
}

/// Exits `--stats` counts: with ioeventfd, notifies never arrive here; the interrupt status
/// read and the acknowledgement are the two exits per interrupt that remain.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TransportStats {
    pub notifies: u64,
    pub interrupt_status_reads: u64,
    pub interrupt_acks: u64,
    /// Every other access (probing, feature negotiation, queue setup).
    pub other: u64,
}

/// One queue's registers.
#[derive(Debug, Clone, Copy)]
struct QueueRegs {
    max: u16,
    ready: bool,
    config: QueueConfig,
}

impl QueueRegs {
    fn new(max: u16) -> QueueRegs {
        QueueRegs { max, ready: false, config: QueueConfig { size: max, ..QueueConfig::default() } }
    }
}

/// The register file of one virtio-mmio device.
#[derive(Debug)]
pub struct MmioTransport {
    device_id: u32,
    device_features: u64,
    config: Box<[u8]>,
    device_features_sel: u32,
    driver_features_sel: u32,
    driver_features: u64,
    queue_sel: u32,
    queues: Vec<QueueRegs>,
    status: u32,
    interrupt_status: u32,
    stats: TransportStats,
}

/// Sets the low or high half of `v`.
fn set_half(v: &mut u64, high: bool, half: u32) {
    let shift = if high { 32 } else { 0 };
    *v = (*v & !(0xFFFF_FFFFu64 << shift)) | (u64::from(half) << shift);
}

impl MmioTransport {
    /// A device of type `device_id` offering `device_features`, with one queue per entry of
    /// `queue_max` (each entry its QueueNumMax), and the configuration space `config`.
    pub fn new(
        device_id: u32,
        device_features: u64,
        queue_max: &[u16],
        config: Vec<u8>,
    ) -> MmioTransport {
        MmioTransport {
            device_id,
            device_features,
            config: config.into_boxed_slice(),
            device_features_sel: 0,
            driver_features_sel: 0,
            driver_features: 0,
            queue_sel: 0,
            queues: queue_max.iter().map(|&m| QueueRegs::new(m)).collect(),
            status: 0,
            interrupt_status: 0,
            stats: TransportStats::default(),
        }
    }

    /// A guest load from `offset` into the page: fills `data` (1 to 8 bytes).
    pub fn read(&mut self, offset: u64, data: &mut [u8]) -> Register {
        let register = Register::at(offset);
        data.fill(0);
        if let Register::Config(at) = register {
            self.stats.other += 1;
            for (i, byte) in data.iter_mut().enumerate() {
                let i = at.saturating_add(i as u64);
                *byte =
                    usize::try_from(i).ok().and_then(|i| self.config.get(i)).copied().unwrap_or(0);
            }
            return register;
        }
        match register {
            Register::InterruptStatus => self.stats.interrupt_status_reads += 1,
            _ => self.stats.other += 1,
        }
        if data.len() != 4 || !offset.is_multiple_of(4) {
            return register;
        }
        let value = self.register_value(register);
        data.copy_from_slice(&value.to_le_bytes());
        register
    }

    fn register_value(&self, register: Register) -> u32 {
        use Register::*;
        let queue = self.queues.get(self.queue_sel as usize);
        match register {
            MagicValue => MAGIC_VALUE,
            Version => VERSION,
            DeviceId => self.device_id,
            VendorId => VENDOR_ID,
            DeviceFeatures => match self.device_features_sel {
                0 => self.device_features as u32,
                1 => (self.device_features >> 32) as u32,
                _ => 0,
            },
            QueueNumMax => queue.map_or(0, |q| u32::from(q.max)),
            QueueReady => queue.map_or(0, |q| u32::from(q.ready)),
            InterruptStatus => self.interrupt_status,
            Status => self.status,
            // No shared memory regions: a region that does not exist reads as all ones.
            ShmLenLow | ShmLenHigh | ShmBaseLow | ShmBaseHigh => 0xFFFF_FFFF,
            // Write-only registers, QueueReset (VIRTIO_F_RING_RESET is not offered),
            // ConfigGeneration (the configuration never changes) and the rest read 0.
            _ => 0,
        }
    }

    /// A guest store of `data` (1 to 8 bytes) to `offset` into the page.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> WriteEffect {
        let register = Register::at(offset);
        match register {
            Register::QueueNotify => self.stats.notifies += 1,
            Register::InterruptAck => self.stats.interrupt_acks += 1,
            _ => self.stats.other += 1,
        }
        if matches!(register, Register::Config(_) | Register::Unknown(_)) {
            return WriteEffect::Ignored(Refusal::ReadOnly);
        }
        let Ok(bytes) = <[u8; 4]>::try_from(data) else {
            return WriteEffect::Ignored(Refusal::Width);
        };
        if !offset.is_multiple_of(4) {
            return WriteEffect::Ignored(Refusal::Width);
        }
        let value = u32::from_le_bytes(bytes);
        use Register::*;
        match register {
            DeviceFeaturesSel => self.device_features_sel = value,
            DriverFeaturesSel => self.driver_features_sel = value,
            DriverFeatures => {
                if self.status & VIRTIO_CONFIG_S_FEATURES_OK != 0 {
                    return WriteEffect::Ignored(Refusal::FeaturesLocked);
                }
                match self.driver_features_sel {
                    0 => set_half(&mut self.driver_features, false, value),
                    1 => set_half(&mut self.driver_features, true, value),
                    // Bits 64 and up: none exist; a driver that sets one fails negotiation.
                    _ if value != 0 => self.driver_features |= 1 << 63,
                    _ => {}
                }
            }
            QueueSel => self.queue_sel = value,
            QueueNum | QueueDescLow | QueueDescHigh | QueueDriverLow | QueueDriverHigh
            | QueueDeviceLow | QueueDeviceHigh => {
                return self.write_queue_register(register, value)
            }
            QueueReady => return self.write_queue_ready(value),
            QueueNotify => return self.notify(value),
            InterruptAck => {
                self.interrupt_status &= !value;
                return WriteEffect::InterruptAck { acked: value, pending: self.interrupt_status };
            }
            Status => return self.write_status(value),
            ShmSel => {}
            _ => return WriteEffect::Ignored(Refusal::ReadOnly),
        }
        WriteEffect::Done
    }

    /// The selected queue, if it exists and its registers may change.
    fn settable_queue(&mut self) -> Result<&mut QueueRegs, Refusal> {
        let running = self.status & VIRTIO_CONFIG_S_DRIVER_OK != 0;
        let q = self.queues.get_mut(self.queue_sel as usize).ok_or(Refusal::NoSuchQueue)?;
        if q.ready || running {
            return Err(Refusal::QueueLive);
        }
        Ok(q)
    }

    fn write_queue_register(&mut self, register: Register, value: u32) -> WriteEffect {
        let q = match self.settable_queue() {
            Ok(q) => q,
            Err(why) => return WriteEffect::Ignored(why),
        };
        let c = &mut q.config;
        match register {
            // Sizes above 65535 cannot be a queue's; keep a value QueueReady will refuse.
            Register::QueueNum => c.size = u16::try_from(value).unwrap_or(0),
            Register::QueueDescLow => set_half(&mut c.desc_table, false, value),
            Register::QueueDescHigh => set_half(&mut c.desc_table, true, value),
            Register::QueueDriverLow => set_half(&mut c.avail_ring, false, value),
            Register::QueueDriverHigh => set_half(&mut c.avail_ring, true, value),
            Register::QueueDeviceLow => set_half(&mut c.used_ring, false, value),
            _ => set_half(&mut c.used_ring, true, value),
        }
        WriteEffect::Done
    }

    fn write_queue_ready(&mut self, value: u32) -> WriteEffect {
        let running = self.status & VIRTIO_CONFIG_S_DRIVER_OK != 0;
        let index = self.queue_sel;
        let Some(q) = self.queues.get_mut(index as usize) else {
            return WriteEffect::Ignored(Refusal::NoSuchQueue);
        };
        if value == 0 {
            let was = std::mem::replace(&mut q.ready, false);
            return if was && running {
                WriteEffect::QueueDisabled(index as u16)
            } else {
                WriteEffect::Done
            };
        }
        if q.ready {
            return WriteEffect::Done;
        }
        if running {
            return WriteEffect::Ignored(Refusal::QueueLive);
        }
        match q.config.check(q.max) {
            Ok(()) => {
                q.ready = true;
                WriteEffect::Done
            }
            Err(e) => WriteEffect::Ignored(Refusal::BadQueue(e)),
        }
    }

    fn notify(&mut self, value: u32) -> WriteEffect {
        let running = self.status & VIRTIO_CONFIG_S_DRIVER_OK != 0;
        match self.queues.get(value as usize) {
            Some(q) if q.ready && running => WriteEffect::QueueNotify(value as u16),
            _ => WriteEffect::Ignored(Refusal::NotRunning),
        }
    }

    /// The features the device accepts from a driver: a subset of its own, with VERSION_1.
    fn acceptable(&self, driver: u64) -> bool {
        driver & !self.device_features == 0 && driver & feature(VIRTIO_F_VERSION_1) != 0
    }

    fn write_status(&mut self, value: u32) -> WriteEffect {
        if value == 0 {
            self.reset();
            return WriteEffect::Reset;
        }
        // The driver only ever adds bits (2.1.2: it must not clear one); keep every bit set
        // until a reset, so a running device cannot be half-stopped by a stray write.
        let old = self.status;
        let mut new = old | (value & 0xFF);
        let mut effect = WriteEffect::Done;
        let added = new & !old;
        if added & VIRTIO_CONFIG_S_FEATURES_OK != 0 && !self.acceptable(self.driver_features) {
            new &= !VIRTIO_CONFIG_S_FEATURES_OK;
            effect = WriteEffect::FeaturesRefused { driver: self.driver_features };
        }
        if added & VIRTIO_CONFIG_S_DRIVER_OK != 0 {
            if new & VIRTIO_CONFIG_S_FEATURES_OK == 0 {
                new &= !VIRTIO_CONFIG_S_DRIVER_OK;
                effect = WriteEffect::Ignored(Refusal::NoFeaturesOk);
            } else {
                effect = WriteEffect::DriverOk;
            }
        }
        self.status = new;
        effect
    }

    /// Status 0 (4.2.2.1): every register back to its first value; InterruptStatus and every
    /// QueueReady cleared. The statistics stay.
    pub fn reset(&mut self) {
        let queue_max: Vec<u16> = self.queues.iter().map(|q| q.max).collect();
        for (q, max) in self.queues.iter_mut().zip(queue_max) {
            *q = QueueRegs::new(max);
        }
        self.device_features_sel = 0;
        self.driver_features_sel = 0;
        self.driver_features = 0;
        self.queue_sel = 0;
        self.status = 0;
        self.interrupt_status = 0;
    }

    /// The device used buffers or its configuration changed: sets `bits` in InterruptStatus.
    /// The machine then pulses the interrupt line (KVM_IRQFD: an edge).
    pub fn raise_interrupt(&mut self, bits: u32) {
        self.interrupt_status |= bits;
    }

    /// The device hit an error it cannot recover from without a reset (a broken queue): sets
    /// DEVICE_NEEDS_RESET (2.1.2) and, once the driver is running, a configuration-change
    /// interrupt. Returns whether the machine must pulse the interrupt line.
    pub fn set_needs_reset(&mut self) -> bool {
        self.status |= VIRTIO_CONFIG_S_NEEDS_RESET;
        if self.status & VIRTIO_CONFIG_S_DRIVER_OK != 0 {
            self.raise_interrupt(VIRTIO_MMIO_INT_CONFIG);
            return true;
        }
        false
    }

    /// Queue `index` as the driver set it up, if it is ready.
    pub fn queue_config(&self, index: u16) -> Option<QueueConfig> {
        self.queues.get(usize::from(index)).filter(|q| q.ready).map(|q| q.config)
    }

    /// The features the driver chose (meaningful once FEATURES_OK is set).
    pub fn driver_features(&self) -> u64 {
        self.driver_features
    }

    #[cfg(test)]
    pub fn status(&self) -> u32 {
        self.status
    }

    #[cfg(test)]
    pub fn interrupt_status(&self) -> u32 {
        self.interrupt_status
    }

    pub fn stats(&self) -> TransportStats {
        self.stats
    }
}

#[cfg(test)]
pub(in crate::virtio) mod props;
#[cfg(test)]
mod tests;
