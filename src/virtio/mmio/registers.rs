//! The virtio-mmio register layout, version 2 (virtio 1.2, 4.2.2 "MMIO Device Register
//! Layout"): each register's offset into the device's page, the fixed values the identification
//! registers hold, and [`Register`], which names the register at an offset.

// Register offsets (4.2.2; the names of Linux's include/uapi/linux/virtio_mmio.h).
pub const VIRTIO_MMIO_MAGIC_VALUE: u64 = 0x000;
pub const VIRTIO_MMIO_VERSION: u64 = 0x004;
pub const VIRTIO_MMIO_DEVICE_ID: u64 = 0x008;
pub const VIRTIO_MMIO_VENDOR_ID: u64 = 0x00c;
pub const VIRTIO_MMIO_DEVICE_FEATURES: u64 = 0x010;
pub const VIRTIO_MMIO_DEVICE_FEATURES_SEL: u64 = 0x014;
pub const VIRTIO_MMIO_DRIVER_FEATURES: u64 = 0x020;
pub const VIRTIO_MMIO_DRIVER_FEATURES_SEL: u64 = 0x024;
pub const VIRTIO_MMIO_QUEUE_SEL: u64 = 0x030;
pub const VIRTIO_MMIO_QUEUE_NUM_MAX: u64 = 0x034;
pub const VIRTIO_MMIO_QUEUE_NUM: u64 = 0x038;
pub const VIRTIO_MMIO_QUEUE_READY: u64 = 0x044;
pub const VIRTIO_MMIO_QUEUE_NOTIFY: u64 = 0x050;
pub const VIRTIO_MMIO_INTERRUPT_STATUS: u64 = 0x060;
pub const VIRTIO_MMIO_INTERRUPT_ACK: u64 = 0x064;
pub const VIRTIO_MMIO_STATUS: u64 = 0x070;
pub const VIRTIO_MMIO_QUEUE_DESC_LOW: u64 = 0x080;
pub const VIRTIO_MMIO_QUEUE_DESC_HIGH: u64 = 0x084;
pub const VIRTIO_MMIO_QUEUE_AVAIL_LOW: u64 = 0x090;
pub const VIRTIO_MMIO_QUEUE_AVAIL_HIGH: u64 = 0x094;
pub const VIRTIO_MMIO_QUEUE_USED_LOW: u64 = 0x0a0;
pub const VIRTIO_MMIO_QUEUE_USED_HIGH: u64 = 0x0a4;
pub const VIRTIO_MMIO_SHM_SEL: u64 = 0x0ac;
pub const VIRTIO_MMIO_SHM_LEN_LOW: u64 = 0x0b0;
pub const VIRTIO_MMIO_SHM_LEN_HIGH: u64 = 0x0b4;
pub const VIRTIO_MMIO_SHM_BASE_LOW: u64 = 0x0b8;
pub const VIRTIO_MMIO_SHM_BASE_HIGH: u64 = 0x0bc;
pub const VIRTIO_MMIO_QUEUE_RESET: u64 = 0x0c0;
pub const VIRTIO_MMIO_CONFIG_GENERATION: u64 = 0x0fc;
pub const VIRTIO_MMIO_CONFIG: u64 = 0x100;

/// "virt", little-endian.
pub const MAGIC_VALUE: u32 = 0x7472_6976;
/// The virtio 1.x register layout (legacy devices say 1).
pub const VERSION: u32 = 2;
/// Nobody assigns virtio-mmio vendor IDs; "MKVM" (PCI devices use their PCI vendor ID).
pub const VENDOR_ID: u32 = u32::from_le_bytes(*b"MKVM");
/// InterruptStatus bit 0: the device used buffers in a queue.
pub const VIRTIO_MMIO_INT_VRING: u32 = 1;
/// InterruptStatus bit 1: the configuration changed (here: the device needs a reset).
pub const VIRTIO_MMIO_INT_CONFIG: u32 = 2;

/// A register, by offset: for `--stats` and `--trace`, and the state machine's own `match`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Register {
    MagicValue,
    Version,
    DeviceId,
    VendorId,
    DeviceFeatures,
    DeviceFeaturesSel,
    DriverFeatures,
    DriverFeaturesSel,
    QueueSel,
    QueueNumMax,
    QueueNum,
    QueueReady,
    QueueNotify,
    InterruptStatus,
    InterruptAck,
    Status,
    QueueDescLow,
    QueueDescHigh,
    QueueDriverLow,
    QueueDriverHigh,
    QueueDeviceLow,
    QueueDeviceHigh,
    ShmSel,
    ShmLenLow,
    ShmLenHigh,
    ShmBaseLow,
    ShmBaseHigh,
    QueueReset,
    ConfigGeneration,
    /// The configuration space, at this offset into it.
    Config(u64),
    /// An offset the layout does not name.
    Unknown(u64),
}

impl Register {
    /// The register at `offset` into the device's page.
    pub fn at(offset: u64) -> Register {
        use Register::*;
        match offset {
            VIRTIO_MMIO_MAGIC_VALUE => MagicValue,
            VIRTIO_MMIO_VERSION => Version,
            VIRTIO_MMIO_DEVICE_ID => DeviceId,
            VIRTIO_MMIO_VENDOR_ID => VendorId,
            VIRTIO_MMIO_DEVICE_FEATURES => DeviceFeatures,
            VIRTIO_MMIO_DEVICE_FEATURES_SEL => DeviceFeaturesSel,
            VIRTIO_MMIO_DRIVER_FEATURES => DriverFeatures,
            VIRTIO_MMIO_DRIVER_FEATURES_SEL => DriverFeaturesSel,
            VIRTIO_MMIO_QUEUE_SEL => QueueSel,
            VIRTIO_MMIO_QUEUE_NUM_MAX => QueueNumMax,
            VIRTIO_MMIO_QUEUE_NUM => QueueNum,
            VIRTIO_MMIO_QUEUE_READY => QueueReady,
            VIRTIO_MMIO_QUEUE_NOTIFY => QueueNotify,
            VIRTIO_MMIO_INTERRUPT_STATUS => InterruptStatus,
            VIRTIO_MMIO_INTERRUPT_ACK => InterruptAck,
            VIRTIO_MMIO_STATUS => Status,
            VIRTIO_MMIO_QUEUE_DESC_LOW => QueueDescLow,
            VIRTIO_MMIO_QUEUE_DESC_HIGH => QueueDescHigh,
            VIRTIO_MMIO_QUEUE_AVAIL_LOW => QueueDriverLow,
            VIRTIO_MMIO_QUEUE_AVAIL_HIGH => QueueDriverHigh,
            VIRTIO_MMIO_QUEUE_USED_LOW => QueueDeviceLow,
            VIRTIO_MMIO_QUEUE_USED_HIGH => QueueDeviceHigh,
            VIRTIO_MMIO_SHM_SEL => ShmSel,
            VIRTIO_MMIO_SHM_LEN_LOW => ShmLenLow,
            VIRTIO_MMIO_SHM_LEN_HIGH => ShmLenHigh,
            VIRTIO_MMIO_SHM_BASE_LOW => ShmBaseLow,
            VIRTIO_MMIO_SHM_BASE_HIGH => ShmBaseHigh,
            VIRTIO_MMIO_QUEUE_RESET => QueueReset,
            VIRTIO_MMIO_CONFIG_GENERATION => ConfigGeneration,
            o if o >= VIRTIO_MMIO_CONFIG => Config(o - VIRTIO_MMIO_CONFIG),
            o => Unknown(o),
        }
    }
}
