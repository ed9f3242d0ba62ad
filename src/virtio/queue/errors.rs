//! What can go wrong with a split virtqueue (virtio 1.2, 2.7): a queue the driver sets up
//! badly (2.7's sizes and alignments), a ring that is broken (the device needs a reset,
//! 2.1.2), one chain that is unusable (2.7.4.2, 2.7.5.3: the request ends, the queue goes on).

use crate::memory::MemoryError;
use std::fmt;

/// Why a queue cannot be made ready.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueConfigError {
    /// Not a power of two, zero, or above QueueNumMax.
    Size { size: u16, max: u16 },
    /// An area not aligned as 2.7 asks (16, 2, 4), or running past the end of the address space.
    Area { what: &'static str, addr: u64 },
}

impl fmt::Display for QueueConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueConfigError::Size { size, max } => {
                write!(f, "queue size {size} is not a power of two from 1 to QueueNumMax ({max})")
            }
            QueueConfigError::Area { what, addr } => {
                write!(f, "the {what} at {addr:#x} is misaligned or wraps")
            }
        }
    }
}

/// The ring itself is broken: the device cannot go on with this queue until it is reset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueError {
    /// A ring or the descriptor table is (partly) outside guest RAM.
    Memory(MemoryError),
    /// `avail.idx` is more than `size` ahead of what the device has taken.
    AvailIndex { avail_idx: u16, taken: u16, size: u16 },
    /// The available ring names a head outside the descriptor table.
    Head { head: u16, size: u16 },
}

impl fmt::Display for QueueError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            QueueError::Memory(e) => write!(f, "virtqueue ring: {e}"),
            QueueError::AvailIndex { avail_idx, taken, size } => write!(
                f,
                "available idx {avail_idx} is more than the queue size {size} ahead of {taken}"
            ),
            QueueError::Head { head, size } => {
                write!(f, "head index {head} is outside a queue of {size}")
            }
        }
    }
}

impl From<MemoryError> for QueueError {
    fn from(e: MemoryError) -> QueueError {
        QueueError::Memory(e)
    }
}

/// One chain is unusable; the queue is fine. The request ends (used length 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChainError {
    /// `next` names an index outside the table.
    Next { index: u16, size: u16 },
    /// More descriptors than the queue has: a loop, or a driver breaking 2.7.4.2.
    TooLong { size: u16 },
    /// VIRTQ_DESC_F_INDIRECT, a feature not offered.
    Indirect,
    /// A device-readable buffer after a device-writable one.
    ReadableAfterWritable,
    /// A buffer not wholly inside guest RAM.
    OutsideRam { addr: u64, len: u32 },
}

impl fmt::Display for ChainError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainError::Next { index, size } => {
                write!(f, "next index {index} is outside a queue of {size}")
            }
            ChainError::TooLong { size } => {
                write!(f, "the chain is longer than the queue ({size}): a loop?")
            }
            ChainError::Indirect => write!(f, "indirect descriptor (not offered)"),
            ChainError::ReadableAfterWritable => {
                write!(f, "a device-readable buffer after a device-writable one")
            }
            ChainError::OutsideRam { addr, len } => {
                write!(f, "buffer {addr:#x}+{len:#x} is outside guest RAM")
            }
        }
    }
}

/// What [`SplitQueue::pop`] can fail with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PopError {
    /// The queue is broken.
    Queue(QueueError),
    /// This chain is bad: give `head` back with length 0 and go on.
    Chain { head: u16, error: ChainError },
}

impl From<MemoryError> for PopError {
    fn from(e: MemoryError) -> PopError {
        PopError::Queue(QueueError::Memory(e))
    }
}
