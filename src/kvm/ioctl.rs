//! ioctl request numbers: how `_IO`, `_IOR`, `_IOW` and `_IOWR` pack a request.
//!
//! Every KVM operation is an `ioctl(fd, request, arg)`. The request number is not arbitrary: the
//! kernel packs four fields into its 32 bits (`include/uapi/asm-generic/ioctl.h`):
//!
//! ```text
//!  31 30 | 29 ............ 16 | 15 ...... 8 | 7 ...... 0
//!  dir   | size of the arg    | type (0xAE) | number
//! ```
//!
//! `dir` says whether the kernel reads the argument (`_IOW`, "write" from user space), writes it
//! (`_IOR`), both (`_IOWR`) or takes none (`_IO`). KVM's type byte is `KVMIO` = 0xAE. The numbers
//! themselves come from `include/uapi/linux/kvm.h`; `Documentation/virt/kvm/api.rst` section 4
//! describes each ioctl. Writing them as `const fn`s keeps the encoding visible and lets the
//! compiler check the argument sizes against the structs in [`super::bindings`].

use super::bindings::*;
use std::mem::size_of;

const IOC_NONE: u32 = 0;
const IOC_WRITE: u32 = 1;
const IOC_READ: u32 = 2;

/// The ioctl "type" byte of every KVM request (`KVMIO` in `<linux/kvm.h>`).
pub const KVMIO: u32 = 0xAE;

// [tour:request-numbers]
const fn ioc(dir: u32, nr: u32, size: usize) -> u64 {
    ((dir << 30) | ((size as u32) << 16) | (KVMIO << 8) | nr) as u64
}

/// `_IO(KVMIO, nr)`: no argument, or an integer passed by value.
pub const fn io(nr: u32) -> u64 {
    ioc(IOC_NONE, nr, 0)
}

/// `_IOR(KVMIO, nr, T)`: the kernel fills a `T` for us.
pub const fn ior<T>(nr: u32) -> u64 {
    ioc(IOC_READ, nr, size_of::<T>())
}

/// `_IOW(KVMIO, nr, T)`: the kernel reads a `T` from us.
pub const fn iow<T>(nr: u32) -> u64 {
    ioc(IOC_WRITE, nr, size_of::<T>())
}

/// `_IOWR(KVMIO, nr, T)`: the kernel reads a `T` and writes it back.
pub const fn iowr<T>(nr: u32) -> u64 {
    ioc(IOC_READ | IOC_WRITE, nr, size_of::<T>())
}
// [/tour:request-numbers]

// System ioctls, on the /dev/kvm fd (api.rst 4.1-4.5, 4.46).
pub const KVM_GET_API_VERSION: u64 = io(0x00);
pub const KVM_CREATE_VM: u64 = io(0x01);
pub const KVM_CHECK_EXTENSION: u64 = io(0x03);
pub const KVM_GET_VCPU_MMAP_SIZE: u64 = io(0x04);
pub const KVM_GET_SUPPORTED_CPUID: u64 = iowr::<kvm_cpuid2>(0x05);

// VM ioctls, on the fd KVM_CREATE_VM returns.
pub const KVM_CREATE_VCPU: u64 = io(0x41);
pub const KVM_SET_USER_MEMORY_REGION: u64 = iow::<kvm_userspace_memory_region>(0x46);
pub const KVM_SET_TSS_ADDR: u64 = io(0x47);
pub const KVM_REGISTER_COALESCED_MMIO: u64 = iow::<kvm_coalesced_mmio_zone>(0x67);
pub const KVM_UNREGISTER_COALESCED_MMIO: u64 = iow::<kvm_coalesced_mmio_zone>(0x68);
pub const KVM_CREATE_IRQCHIP: u64 = io(0x60);
pub const KVM_IRQ_LINE: u64 = iow::<kvm_irq_level>(0x61);
pub const KVM_CREATE_PIT2: u64 = iow::<kvm_pit_config>(0x77);
/// `_IO`, though it takes a `kvm_reinject_control` pointer (as <linux/kvm.h> defines it).
pub const KVM_REINJECT_CONTROL: u64 = io(0x71);

// vCPU ioctls, on the fd KVM_CREATE_VCPU returns.
pub const KVM_RUN: u64 = io(0x80);
pub const KVM_GET_REGS: u64 = ior::<kvm_regs>(0x81);
pub const KVM_SET_REGS: u64 = iow::<kvm_regs>(0x82);
pub const KVM_GET_SREGS: u64 = ior::<kvm_sregs>(0x83);
pub const KVM_SET_SREGS: u64 = iow::<kvm_sregs>(0x84);
pub const KVM_TRANSLATE: u64 = iowr::<kvm_translation>(0x85);
pub const KVM_SET_CPUID2: u64 = iow::<kvm_cpuid2>(0x90);
pub const KVM_SET_GUEST_DEBUG: u64 = iow::<kvm_guest_debug>(0x9b);
pub const KVM_GET_MP_STATE: u64 = ior::<kvm_mp_state>(0x98);

#[cfg(test)]
mod tests {
    use super::*;

    /// The expected values are what `printf("%lx", KVM_...)` prints in C against the kernel's
    /// own `<linux/kvm.h>`: if a struct size in bindings.rs drifts, the number drifts with it.
    #[test]
    fn request_numbers_match_linux_kvm_h() {
        assert_eq!(KVM_GET_API_VERSION, 0xAE00);
        assert_eq!(KVM_CREATE_VM, 0xAE01);
        assert_eq!(KVM_CHECK_EXTENSION, 0xAE03);
        assert_eq!(KVM_GET_VCPU_MMAP_SIZE, 0xAE04);
        assert_eq!(KVM_GET_SUPPORTED_CPUID, 0xC008_AE05);
        assert_eq!(KVM_CREATE_VCPU, 0xAE41);
        assert_eq!(KVM_SET_USER_MEMORY_REGION, 0x4020_AE46);
        assert_eq!(KVM_SET_TSS_ADDR, 0xAE47);
        assert_eq!(KVM_REGISTER_COALESCED_MMIO, 0x4010_AE67);
        assert_eq!(KVM_UNREGISTER_COALESCED_MMIO, 0x4010_AE68);
        assert_eq!(KVM_CREATE_IRQCHIP, 0xAE60);
        assert_eq!(KVM_IRQ_LINE, 0x4008_AE61);
        assert_eq!(KVM_CREATE_PIT2, 0x4040_AE77);
        assert_eq!(KVM_REINJECT_CONTROL, 0xAE71);
        assert_eq!(KVM_RUN, 0xAE80);
        assert_eq!(KVM_GET_REGS, 0x8090_AE81);
        assert_eq!(KVM_SET_REGS, 0x4090_AE82);
        assert_eq!(KVM_GET_SREGS, 0x8138_AE83);
        assert_eq!(KVM_SET_SREGS, 0x4138_AE84);
        assert_eq!(KVM_TRANSLATE, 0xC018_AE85);
        assert_eq!(KVM_SET_CPUID2, 0x4008_AE90);
        assert_eq!(KVM_SET_GUEST_DEBUG, 0x4048_AE9B);
        assert_eq!(KVM_GET_MP_STATE, 0x8004_AE98);
    }

    #[test]
    fn encoding_fields_land_in_their_bits() {
        // _IOR with a 0x90-byte argument: dir=2 in bits 30-31, size in 16-29, type, number.
        let r = ior::<[u8; 0x90]>(0x81);
        assert_eq!(r >> 30, 2);
        assert_eq!((r >> 16) & 0x3FFF, 0x90);
        assert_eq!((r >> 8) & 0xFF, 0xAE);
        assert_eq!(r & 0xFF, 0x81);
        assert_eq!(iowr::<u64>(1) >> 30, 3);
        assert_eq!(iow::<u64>(1) >> 30, 1);
        assert_eq!(io(1) >> 16, 0);
    }
}
