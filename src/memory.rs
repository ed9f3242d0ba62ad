//! Guest RAM: one anonymous `mmap` that KVM maps into the guest's physical address space.
//!
//! A guest's "physical" memory is ordinary memory of the VMM process. We reserve it with
//! `mmap(MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)`, so it starts zeroed and costs nothing
//! until the guest touches a page, then hand its address to KVM with
//! `KVM_SET_USER_MEMORY_REGION` (api.rst 4.35, see `kvm/vm.rs`). From then on the guest reads and
//! writes it directly, with no exit.
//!
//! The VMM itself reaches guest memory only through [`GuestMemory::read`] and
//! [`GuestMemory::write`], which take a guest-physical address (GPA) and check it against the
//! size with overflow-proof arithmetic. Whatever address a guest (or a guest image) names, the
//! VMM never touches host memory outside this mapping.

use std::fmt;
use std::ptr::NonNull;

/// A guest-physical address or range outside guest RAM, or a failed mmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemoryError {
    OutOfBounds { gpa: u64, len: u64, size: u64 },
    Mmap { size: u64, errno: i32 },
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryError::OutOfBounds { gpa, len, size } => write!(
                f,
                "guest-physical range {gpa:#x}+{len:#x} is outside guest RAM (0..{size:#x})"
            ),
            MemoryError::Mmap { size, errno } => write!(
                f,
                "mmap of {} KiB of guest RAM failed: {}",
                size / 1024,
                std::io::Error::from_raw_os_error(*errno)
            ),
        }
    }
}

impl std::error::Error for MemoryError {}

/// Guest RAM covering guest-physical addresses `0..size`.
pub struct GuestMemory {
    base: NonNull<u8>,
    size: usize,
}

// SAFETY: GuestMemory is a plain byte region with no thread affinity; every access goes through
// bounds-checked copies. Guest vCPUs write it concurrently anyway, exactly as hardware would.
unsafe impl Send for GuestMemory {}
// SAFETY: as above: &GuestMemory only offers copies in and out of the region.
unsafe impl Sync for GuestMemory {}

impl GuestMemory {
    /// Reserves `size` bytes of zeroed guest RAM.
    pub fn new(size: u64) -> Result<GuestMemory, MemoryError> {
        let err = |errno| MemoryError::Mmap { size, errno };
        let len = usize::try_from(size).map_err(|_| err(libc::ENOMEM))?;
        if len == 0 {
            return Err(err(libc::EINVAL));
        }
        // SAFETY: an anonymous mapping at an address of the kernel's choosing aliases nothing we
        // own; we check for MAP_FAILED before using the pointer.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if ptr == libc::MAP_FAILED {
            return Err(err(std::io::Error::last_os_error()
                .raw_os_error()
                .unwrap_or(libc::ENOMEM)));
        }
        // mmap never returns NULL for a non-fixed mapping that succeeded; treat it as a failure
        // anyway rather than trusting that.
        let base = NonNull::new(ptr.cast::<u8>()).ok_or(err(libc::ENOMEM))?;
        Ok(GuestMemory { base, size: len })
    }

    /// The size of guest RAM in bytes.
    pub fn size(&self) -> u64 {
        self.size as u64
    }

    /// The offset of `gpa..gpa+len` in the mapping, if the whole range is inside guest RAM.
    fn check(&self, gpa: u64, len: usize) -> Result<usize, MemoryError> {
        let end = gpa.checked_add(len as u64);
        match end {
            Some(end) if end <= self.size as u64 => Ok(gpa as usize),
            _ => Err(MemoryError::OutOfBounds {
                gpa,
                len: len as u64,
                size: self.size as u64,
            }),
        }
    }

    /// The host virtual address of `gpa..gpa+len`, for KVM_SET_USER_MEMORY_REGION.
    pub fn host_address(&self, gpa: u64, len: u64) -> Result<u64, MemoryError> {
        let len_usize = usize::try_from(len).map_err(|_| MemoryError::OutOfBounds {
            gpa,
            len,
            size: self.size as u64,
        })?;
        let offset = self.check(gpa, len_usize)?;
        Ok(self.base.as_ptr() as u64 + offset as u64)
    }

    /// Copies guest RAM at `gpa` into `buf`.
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let offset = self.check(gpa, buf.len())?;
        // SAFETY: check() proved offset..offset+len lies inside the mapping; `buf` is a distinct
        // host buffer. A vCPU may write the same bytes meanwhile: we copy bytes, never hold a
        // reference into guest RAM, so a torn read is the worst case, as on hardware.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.base.as_ptr().add(offset),
                buf.as_mut_ptr(),
                buf.len(),
            );
        }
        Ok(())
    }

    /// Copies `data` into guest RAM at `gpa`.
    pub fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let offset = self.check(gpa, data.len())?;
        // SAFETY: check() proved the destination lies inside the mapping; `data` is host memory
        // that cannot overlap it (it came from a `&[u8]` we do not hand out for guest RAM).
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.base.as_ptr().add(offset),
                data.len(),
            );
        }
        Ok(())
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: base/size describe exactly the mapping created in new(); KVM no longer uses it
        // because every Vm and Vcpu holds an Arc<GuestMemory> (see kvm/vm.rs), so this runs only
        // after the last of them is gone.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.size);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_memory_is_zero_and_round_trips() {
        let mem = GuestMemory::new(0x10000).unwrap();
        let mut buf = [0xAAu8; 16];
        mem.read(0x100, &mut buf).unwrap();
        assert_eq!(buf, [0u8; 16]);
        mem.write(0xFFF8, &0x1122_3344_5566_7788u64.to_le_bytes())
            .unwrap();
        let mut word = [0u8; 8];
        mem.read(0xFFF8, &mut word).unwrap();
        assert_eq!(u64::from_le_bytes(word), 0x1122_3344_5566_7788);
        mem.write(0, &0xDEAD_BEEFu32.to_le_bytes()).unwrap();
        mem.read(0, &mut buf[..4]).unwrap();
        assert_eq!(&buf[..4], &[0xEF, 0xBE, 0xAD, 0xDE]);
    }

    #[test]
    fn every_out_of_range_address_is_refused() {
        let mem = GuestMemory::new(0x1000).unwrap();
        let mut buf = [0u8; 8];
        // One byte past the end, straddling the end, far away, and wrapping around u64.
        assert!(mem.read(0x1000, &mut buf[..1]).is_err());
        assert!(mem.read(0xFFC, &mut buf).is_err());
        assert!(mem.write(0x1_0000_0000, &buf).is_err());
        assert!(mem.write(u64::MAX - 3, &buf).is_err());
        assert!(mem.host_address(u64::MAX, 2).is_err());
        assert!(mem.host_address(0, u64::MAX).is_err());
        // The last valid byte and an empty access at the end are fine.
        assert!(mem.read(0xFFF, &mut buf[..1]).is_ok());
        assert!(mem.write(0x1000, &[]).is_ok());
        let err = mem.read(0xFFC, &mut buf).unwrap_err();
        assert_eq!(
            err.to_string(),
            "guest-physical range 0xffc+0x8 is outside guest RAM (0..0x1000)"
        );
    }

    #[test]
    fn zero_and_absurd_sizes_fail_cleanly() {
        assert!(GuestMemory::new(0).is_err());
        // 2^60 bytes cannot be reserved even with MAP_NORESERVE: an error, not a panic.
        assert!(matches!(
            GuestMemory::new(1 << 60),
            Err(MemoryError::Mmap { .. })
        ));
    }
}
