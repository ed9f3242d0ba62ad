//! Guest RAM: one anonymous `mmap` that KVM maps into the guest's physical address space.
//!
//! A guest's "physical" memory is ordinary memory of the VMM process. We reserve it with
//! `mmap(MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE)`, so it starts zeroed and costs nothing
//! until the guest touches a page, then hand its address to KVM with
//! `KVM_SET_USER_MEMORY_REGION` (api.rst 4.35, `kvm/vm.rs`). From then on the guest reads and
//! writes it directly, with no exit.
//!
//! The VMM itself reaches guest memory only through [`GuestMemory::read`] and
//! [`GuestMemory::write`], which take a guest-physical address (GPA) and check it against the
//! size with overflow-proof arithmetic: whatever address a guest (or a guest image) names, the
//! VMM never touches host memory outside this mapping.

use std::ptr::NonNull;

/// A guest-physical range outside guest RAM, or a failed mmap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MemoryError {
    OutOfBounds { gpa: u64, len: u64, size: u64 },
    Mmap { size: u64, errno: i32 },
}

impl std::fmt::Display for MemoryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MemoryError::OutOfBounds { gpa, len, size } => {
                write!(
                    f,
                    "guest-physical range {gpa:#x}+{len:#x} is outside guest RAM (0..{size:#x})"
                )
            }
            MemoryError::Mmap { size, errno } => {
                let why = std::io::Error::from_raw_os_error(*errno);
                write!(f, "mmap of {} KiB of guest RAM failed: {why}", size / 1024)
            }
        }
    }
}

/// Guest RAM covering guest-physical addresses `0..size`.
pub struct GuestMemory {
    base: NonNull<u8>,
    size: u64,
}

// SAFETY: a plain byte region with no thread affinity; every access is a bounds-checked copy.
// vCPUs write it concurrently anyway, as processors write RAM.
unsafe impl Send for GuestMemory {}
// SAFETY: as above: &GuestMemory only offers copies in and out of the region.
unsafe impl Sync for GuestMemory {}

impl GuestMemory {
    /// Reserves `size` bytes of zeroed guest RAM.
    pub fn new(size: u64) -> Result<GuestMemory, MemoryError> {
        let err = |errno| MemoryError::Mmap { size, errno };
        let len = usize::try_from(size).map_err(|_| err(libc::ENOMEM))?;
        let flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE;
        // SAFETY: an anonymous mapping where the kernel chooses aliases nothing we own; the
        // result is checked for MAP_FAILED (and NULL) before use.
        let ptr = unsafe {
            libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ | libc::PROT_WRITE, flags, -1, 0)
        };
        if len == 0 || ptr == libc::MAP_FAILED {
            let errno = std::io::Error::last_os_error().raw_os_error();
            return Err(err(if len == 0 { libc::EINVAL } else { errno.unwrap_or(libc::ENOMEM) }));
        }
        let base = NonNull::new(ptr.cast::<u8>()).ok_or(err(libc::ENOMEM))?;
        Ok(GuestMemory { base, size })
    }

    /// The size of guest RAM in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The offset of `gpa..gpa+len` in the mapping, if the whole range is guest RAM.
    fn check(&self, gpa: u64, len: u64) -> Result<usize, MemoryError> {
        match gpa.checked_add(len) {
            Some(end) if end <= self.size => Ok(gpa as usize),
            _ => Err(MemoryError::OutOfBounds { gpa, len, size: self.size }),
        }
    }

    /// The host virtual address of `gpa..gpa+len`, for KVM_SET_USER_MEMORY_REGION.
    pub fn host_address(&self, gpa: u64, len: u64) -> Result<u64, MemoryError> {
        Ok(self.base.as_ptr() as u64 + self.check(gpa, len)? as u64)
    }

    /// Copies guest RAM at `gpa` into `buf`.
    pub fn read(&self, gpa: u64, buf: &mut [u8]) -> Result<(), MemoryError> {
        let offset = self.check(gpa, buf.len() as u64)?;
        // SAFETY: check() proved the range lies inside the mapping; `buf` is host memory
        // outside it. A vCPU may write the same bytes meanwhile: we copy bytes and never keep a
        // reference into guest RAM, so a torn read is the worst case, as on hardware.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.base.as_ptr().add(offset),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        Ok(())
    }

    /// Copies `data` into guest RAM at `gpa`.
    pub fn write(&self, gpa: u64, data: &[u8]) -> Result<(), MemoryError> {
        let offset = self.check(gpa, data.len() as u64)?;
        // SAFETY: check() proved the destination lies inside the mapping; `data` is host
        // memory outside it.
        unsafe {
            std::ptr::copy_nonoverlapping(data.as_ptr(), self.base.as_ptr().add(offset), data.len())
        };
        Ok(())
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        // SAFETY: base and size are the mapping new() made; KVM does not use it any more: every
        // Vm (and through it every Vcpu) holds an Arc<GuestMemory> until it is gone.
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.size as usize) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_access_is_bounds_checked() {
        let mem = GuestMemory::new(0x2000).unwrap();
        mem.write(0x1FFC, b"abcd").unwrap();
        let mut buf = [0u8; 4];
        mem.read(0x1FFC, &mut buf).unwrap();
        assert_eq!(&buf, b"abcd");
        assert!(mem.write(0x1FFD, b"abcd").is_err());
        assert!(mem.read(u64::MAX - 1, &mut buf).is_err(), "no overflow");
        assert!(mem.host_address(0x1000, 0x1001).is_err());
        assert_eq!(mem.host_address(0, 0x2000).unwrap(), mem.base.as_ptr() as u64);
    }

    #[test]
    fn ram_starts_zeroed_and_empty_ram_is_refused() {
        let mem = GuestMemory::new(4096).unwrap();
        let mut buf = [1u8; 16];
        mem.read(100, &mut buf).unwrap();
        assert_eq!(buf, [0; 16]);
        assert!(matches!(GuestMemory::new(0), Err(MemoryError::Mmap { errno: libc::EINVAL, .. })));
    }
}
