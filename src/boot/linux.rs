//! The x86 Linux boot protocol: what a bzImage says about itself in its setup header, and how
//! mini-kvm boots it through the 64-bit entry point.
//!
//! Reference: the kernel's Documentation/arch/x86/boot.rst — "The real-mode kernel header"
//! (the field table at 0x1F1), "Details of header fields", "Loading the rest of the kernel",
//! "64-bit boot protocol" — and arch/x86/include/uapi/asm/bootparam.h.
//!
//! A bzImage is two programs in one file: `setup_sects` 512-byte sectors of real-mode setup
//! code after a boot sector (the *setup*, which a BIOS boot would run), then the compressed
//! protected-mode kernel, whose first bytes are `startup_32` and, 0x200 further on,
//! `startup_64`. A boot loader reads the setup header at offset 0x1F1 (magic `HdrS` at 0x202),
//! loads the protected-mode part at 1 MiB, fills in the *zero page* (`struct boot_params`,
//! [`super::zeropage`]) and jumps. Like kvmtool, Firecracker and QEMU's `-kernel` with a
//! 64-bit entry, mini-kvm skips the real-mode setup code: it writes what the setup would have
//! found out (the E820 memory map) into the zero page itself and enters `startup_64` with
//! paging on, RSI pointing at the zero page. What the firmware would have left besides (an MP
//! table for several CPUs, ACPI tables for a disk) is [`firmware`]'s.

pub mod firmware;

use super::error::{BzImageError, LoadError, GIVE_A_BZIMAGE};
use super::kernel::{self, HaltCheck};
use super::Opened;
use super::{flat_segment, set_data_segments};
use crate::cli::Config;
use crate::error::Ending;
use crate::guests::Image;
use crate::kvm::bindings::{kvm_regs, kvm_sregs};
use crate::kvm::Vcpu;
use crate::machine::{Boot, Layer, Layout, Setup, Stops};
use crate::memory::GuestMemory;
use crate::vcpu::{Control, VcpuHook};
use crate::x86::{CR0_ET, CR0_NE, CR0_PE, CR0_PG, CR4_PAE, EFER_LMA, EFER_LME, RFLAGS_RESERVED1};
use firmware::Firmware;

/// Where the setup header starts in the file and in the zero page.
pub const SETUP_HEADER_OFFSET: usize = 0x1F1;
/// The most a header can be: the 2.15 header ends at 0x26C; `jump`'s second byte says where
/// this kernel's ends (0x202 + that byte).
pub const SETUP_HEADER_END: usize = 0x26C;
/// `HdrS` at 0x202, little-endian.
pub const HEADER_MAGIC: u32 = 0x5372_6448;
/// `boot_flag` at 0x1FE: the boot sector's 0xAA55.
pub const BOOT_FLAG: u16 = 0xAA55;
/// The oldest protocol mini-kvm boots: 2.12 added `xloadflags` and with it the 64-bit entry
/// (XLF_KERNEL_64).
pub const MIN_VERSION: u16 = 0x020C;

// Offsets of the setup header fields in the file (boot.rst, "The real-mode kernel header").
pub const SETUP_SECTS: usize = 0x1F1;
pub const BOOT_FLAG_AT: usize = 0x1FE;
pub const JUMP: usize = 0x200;
pub const HEADER: usize = 0x202;
pub const VERSION: usize = 0x206;
pub const TYPE_OF_LOADER: usize = 0x210;
pub const LOADFLAGS: usize = 0x211;
pub const CODE32_START: usize = 0x214;
pub const RAMDISK_IMAGE: usize = 0x218;
pub const RAMDISK_SIZE: usize = 0x21C;
pub const HEAP_END_PTR: usize = 0x224;
pub const CMD_LINE_PTR: usize = 0x228;
pub const INITRD_ADDR_MAX: usize = 0x22C;
pub const KERNEL_ALIGNMENT: usize = 0x230;
pub const RELOCATABLE_KERNEL: usize = 0x234;
pub const XLOADFLAGS: usize = 0x236;
pub const CMDLINE_SIZE: usize = 0x238;
pub const PREF_ADDRESS: usize = 0x258;
pub const INIT_SIZE: usize = 0x260;

// loadflags bits.
/// The protected-mode code is loaded at 0x100000 (a bzImage); clear in an old zImage.
pub const LOADED_HIGH: u8 = 1 << 0;
/// Set by the loader: `heap_end_ptr` is valid.
pub const CAN_USE_HEAP: u8 = 1 << 7;
// xloadflags bits.
/// The kernel has the 64-bit entry point at load address + 0x200.
pub const XLF_KERNEL_64: u16 = 1 << 0;

/// Where the protected-mode kernel is loaded: 1 MiB, as for every bzImage (boot.rst,
/// "Loading the rest of the kernel"); relocatable kernels move themselves on from there.
pub const KERNEL_LOAD: u64 = 0x10_0000;
/// `startup_64` is this far into the protected-mode kernel (boot.rst, "64-bit boot protocol").
pub const STARTUP_64_OFFSET: u64 = 0x200;
/// `type_of_loader` 0xFF: "undefined" loader, as boot.rst asks loaders without an assigned id.
pub const LOADER_UNDEFINED: u8 = 0xFF;

/// What the setup header of a bzImage says, checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SetupHeader {
    /// Sectors of real-mode setup code after the boot sector (0 means 4).
    pub setup_sects: u8,
    /// Protocol version, e.g. 0x020F for 2.15.
    pub version: u16,
    pub loadflags: u8,
    pub xloadflags: u16,
    /// The longest command line, without its NUL.
    pub cmdline_size: u32,
    /// The highest address the initrd may occupy (its last byte).
    pub initrd_addr_max: u32,
    pub kernel_alignment: u32,
    pub relocatable: bool,
    /// Where the kernel would like to be (relocatable kernels decompress there).
    pub pref_address: u64,
    /// The memory the kernel needs from its load address while it decompresses and boots.
    pub init_size: u32,
    /// Bytes of the header present in this image: it ends at 0x202 + the byte at 0x201.
    pub header_end: usize,
}

impl SetupHeader {
    /// Bytes before the protected-mode kernel in the file: the boot sector and the setup.
    pub fn setup_size(&self) -> u64 {
        // At most 256 sectors of 512 bytes: a u8 cannot make this overflow.
        (u64::from(self.setup_sects) + 1) * 512
    }

    /// The protocol version as boot.rst writes it, "2.15".
    pub fn version_text(&self) -> String {
        format!("{}.{:02}", self.version >> 8, self.version & 0xFF)
    }
}

/// The first bytes of a bzImage, every read bounds-checked: a field the file does not reach
/// is an error naming the field, never an index past the end.
struct Head<'a> {
    bytes: &'a [u8],
    file_len: u64,
}

impl Head<'_> {
    /// The `N` bytes of setup header field `field` at `at`.
    fn field<const N: usize>(
        &self,
        field: &'static str,
        at: usize,
    ) -> Result<[u8; N], BzImageError> {
        at.checked_add(N)
            .and_then(|end| self.bytes.get(at..end))
            .and_then(|b| b.try_into().ok())
            .ok_or(BzImageError::TooShort { file_len: self.file_len, field, at })
    }

    fn u8(&self, field: &'static str, at: usize) -> Result<u8, BzImageError> {
        self.field::<1>(field, at).map(|[b]| b)
    }

    fn u16(&self, field: &'static str, at: usize) -> Result<u16, BzImageError> {
        self.field(field, at).map(u16::from_le_bytes)
    }

    fn u32(&self, field: &'static str, at: usize) -> Result<u32, BzImageError> {
        self.field(field, at).map(u32::from_le_bytes)
    }

    fn u64(&self, field: &'static str, at: usize) -> Result<u64, BzImageError> {
        self.field(field, at).map(u64::from_le_bytes)
    }
}

/// Reads and checks the setup header from the first bytes of a file (`head`, at least the
/// first 0x26C bytes when the file has them) whose whole size is `file_len`. Pure: the unit
/// tests feed it byte buffers. The error is the reason, to follow the file's name; a file that
/// ends inside the header is refused naming the first field it cuts off.
pub fn parse_header(head: &[u8], file_len: u64) -> Result<SetupHeader, BzImageError> {
    let h = Head { bytes: head, file_len };
    if h.u32("the \"HdrS\" magic", HEADER)? != HEADER_MAGIC {
        return Err(BzImageError::NoMagic);
    }
    let version = h.u16("the setup header's version", VERSION)?;
    if version < MIN_VERSION {
        return Err(BzImageError::OldProtocol { version });
    }
    let header_end =
        (HEADER + usize::from(h.u8("the setup header's jump", JUMP + 1)?)).min(SETUP_HEADER_END);
    // The header fields mini-kvm copies into the zero page end at `header_end`.
    if head.len() < header_end {
        return Err(BzImageError::TooShort {
            file_len,
            field: "the end of the setup header (0x202 + the byte at 0x201)",
            at: header_end,
        });
    }
    if h.u16("the setup header's boot_flag", BOOT_FLAG_AT)? != BOOT_FLAG {
        return Err(BzImageError::NoBootFlag);
    }
    let loadflags = h.u8("the setup header's loadflags", LOADFLAGS)?;
    if loadflags & LOADED_HIGH == 0 {
        return Err(BzImageError::ZImage);
    }
    let xloadflags = h.u16("the setup header's xloadflags", XLOADFLAGS)?;
    if xloadflags & XLF_KERNEL_64 == 0 {
        return Err(BzImageError::No64BitEntry { xloadflags });
    }
    let kernel_alignment = h.u32("the setup header's kernel_alignment", KERNEL_ALIGNMENT)?;
    if !kernel_alignment.is_power_of_two() {
        return Err(BzImageError::BadAlignment { kernel_alignment });
    }
    let mut setup_sects = h.u8("the setup header's setup_sects", SETUP_SECTS)?;
    if setup_sects == 0 {
        setup_sects = 4; // boot.rst: "If this field is 0, the real value is 4."
    }
    let header = SetupHeader {
        setup_sects,
        version,
        loadflags,
        xloadflags,
        cmdline_size: h.u32("the setup header's cmdline_size", CMDLINE_SIZE)?,
        initrd_addr_max: h.u32("the setup header's initrd_addr_max", INITRD_ADDR_MAX)?,
        kernel_alignment,
        relocatable: h.u8("the setup header's relocatable_kernel", RELOCATABLE_KERNEL)? != 0,
        pref_address: h.u64("the setup header's pref_address", PREF_ADDRESS)?,
        init_size: h.u32("the setup header's init_size", INIT_SIZE)?,
        header_end,
    };
    // setup_size() is at most 256 sectors of 512 bytes: the sum cannot overflow.
    if file_len <= header.setup_size() + STARTUP_64_OFFSET {
        return Err(BzImageError::SetupTruncated {
            file_len,
            setup_size: header.setup_size(),
            setup_sects,
        });
    }
    Ok(header)
}

/// Where the kernel runs while it boots: from its load address, or from the aligned
/// preferred address a relocatable kernel decompresses to, for `init_size` bytes. The end of
/// that is the lowest address the initrd may start at. None when the header's numbers add up
/// past the 64-bit address space (a corrupt `pref_address`, or a file of absurd size).
pub fn kernel_end(header: &SetupHeader, kernel_bytes: u64) -> Option<u64> {
    let at = if header.relocatable { header.pref_address.max(KERNEL_LOAD) } else { KERNEL_LOAD };
    let run_end = at.checked_add(u64::from(header.init_size))?;
    Some(run_end.max(KERNEL_LOAD.checked_add(kernel_bytes)?))
}

/// A kernel, checked and ready to be written into guest memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinuxBoot {
    pub header: SetupHeader,
    pub ram: u64,
    /// Where the initrd goes and how big it is.
    pub initrd: Option<(u64, u64)>,
    /// Enter by the 32-bit boot protocol (`startup_32`, paging off) instead of the 64-bit one.
    pub entry32: bool,
    /// Where the ACPI tables' RSDP is, when the boot has tables ([`firmware`]).
    pub acpi_rsdp: Option<u64>,
}

/// The command line a kernel gets when `--cmdline` gives none: its log on the 16550A at
/// 0x3F8 (COM1, IRQ 4) from the first message on, and `reboot=t`: reboot by triple fault
/// rather than by a keyboard controller mini-kvm does not have (that path first polls the
/// i8042's status port 65536 times); `pci=off`: there is no PCI bus, and without it Linux's
/// early AGP-aperture search reads the configuration space of all 8192 bus/slot pairs, two
/// exits each (Firecracker's default command line says `pci=off` too).
pub const DEFAULT_CMDLINE: &str = "console=ttyS0 earlyprintk=serial reboot=t pci=off";

/// Checks that a kernel of `file_len` bytes, a command line of `cmdline_len` bytes and an
/// initrd of `initrd_len` bytes fit this header's limits and `ram`; all sizes come from file
/// metadata, so nothing has been read whole yet. `Err` says which of the three does not fit.
pub fn plan(
    header: SetupHeader,
    file_len: u64,
    ram: u64,
    cmdline_len: usize,
    initrd_len: Option<u64>,
) -> Result<LinuxBoot, PlanProblem> {
    if header.cmdline_size == 0 && cmdline_len > 0 {
        // The kernel's own limit, whatever the user gave: the image is what cannot be used.
        return Err(PlanProblem::Kernel(format!(
            "accepts no command line (its setup header's cmdline_size is 0), and the command \
             line is {cmdline_len} bytes: mini-kvm's default (\"{DEFAULT_CMDLINE}\") when \
             --cmdline gives none; give --cmdline '' to boot it without one"
        )));
    }
    if cmdline_len as u64 > u64::from(header.cmdline_size) {
        return Err(PlanProblem::Cmdline(format!(
            "the command line is {cmdline_len} bytes (--cmdline's, or mini-kvm's default when \
             none is given); this kernel's setup header allows at most {} (cmdline_size): give \
             a shorter --cmdline",
            header.cmdline_size
        )));
    }
    // parse_header checked that the file is longer than its setup.
    let kernel_bytes = file_len.checked_sub(header.setup_size()).ok_or_else(|| {
        PlanProblem::Kernel(format!(
            "is {file_len} bytes, shorter than its setup ({} bytes)",
            header.setup_size()
        ))
    })?;
    let Some(end) = kernel_end(&header, kernel_bytes) else {
        return Err(PlanProblem::Kernel(format!(
            "would run from pref_address {:#x} for init_size {:#x} bytes ({kernel_bytes} \
             bytes loaded at {KERNEL_LOAD:#x}), past the end of the 64-bit address space: a \
             corrupt setup header",
            header.pref_address, header.init_size
        )));
    };
    if end > ram {
        return Err(PlanProblem::Kernel(format!(
            "needs guest RAM up to {end:#x} while it boots (loaded at {KERNEL_LOAD:#x}, \
             {kernel_bytes} bytes, init_size {:#x}), more than the {ram} bytes of guest RAM: \
             give a larger --mem (e.g. --mem {}M)",
            header.init_size,
            (end >> 20).saturating_add(64)
        )));
    }
    let initrd = match initrd_len {
        None => None,
        Some(size) => Some((
            super::zeropage::place_initrd(&header, ram, end, size)
                .map_err(|e| PlanProblem::Initrd(e.to_string()))?,
            size,
        )),
    };
    Ok(LinuxBoot { header, ram, initrd, entry32: false, acpi_rsdp: None })
}

/// What [`plan`] refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanProblem {
    /// A usage error (status 2): the command line is longer than the kernel accepts.
    Cmdline(String),
    /// The kernel image (status 3), including a kernel that accepts no command line at all.
    Kernel(String),
    /// The initrd (status 3).
    Initrd(String),
}

/// Writes the kernel, the initrd, the command line, the zero page, the GDT and the page
/// tables into guest memory.
// [tour:linux-load]
pub fn load(
    memory: &crate::memory::GuestMemory,
    boot: &LinuxBoot,
    image: &[u8],
    cmdline: &str,
    initrd: Option<&[u8]>,
) -> Result<(), LoadError> {
    use super::zeropage::*;
    let write = |what: &'static str, gpa: u64, bytes: &[u8]| {
        memory.write(gpa, bytes).map_err(|error| LoadError::Linux { what, gpa, error })
    };
    // `image` is the file whose length parse_header checked: longer than its setup.
    let setup = boot.header.setup_size() as usize;
    write("kernel", KERNEL_LOAD, image.get(setup..).unwrap_or_default())?;
    if let (Some((addr, _)), Some(bytes)) = (boot.initrd, initrd) {
        write("initrd", addr, bytes)?;
    }
    let mut line = cmdline.as_bytes().to_vec();
    line.push(0);
    write("command line", CMDLINE_ADDR, &line)?;
    let zero_page = build_zero_page(image, &boot.header, boot.ram, boot.initrd, boot.acpi_rsdp);
    write("zero page", ZERO_PAGE, &zero_page[..])?;
    write("GDT", GDT_ADDR, &gdt_bytes(boot.entry32))?;
    write("page tables", PAGE_TABLES, &build_page_tables())
}
// [/tour:linux-load]

/// 64-bit mode, paging on with the identity map, `__BOOT_CS`/`__BOOT_DS` loaded.
pub fn set_sregs(sregs: &mut kvm_sregs) {
    use super::zeropage::*;
    sregs.cs = flat_segment(BOOT_CS, true, true);
    set_data_segments(sregs, flat_segment(BOOT_DS, false, true));
    sregs.gdt.base = GDT_ADDR;
    sregs.gdt.limit = (GDT.len() * 8 - 1) as u16;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cr3 = PAGE_TABLES;
    sregs.cr4 = CR4_PAE;
    sregs.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
    sregs.efer = EFER_LME | EFER_LMA;
}

/// The 32-bit boot protocol (boot.rst, "32-bit boot protocol"): protected mode with paging
/// off, flat `__BOOT_CS` (32-bit code) and `__BOOT_DS` from the GDT, interrupts off; the
/// kernel's `startup_32` builds its own page tables and enters long mode itself.
pub fn set_sregs_32(sregs: &mut kvm_sregs) {
    use super::zeropage::*;
    sregs.cs = flat_segment(BOOT_CS, true, false);
    set_data_segments(sregs, flat_segment(BOOT_DS, false, false));
    sregs.gdt.base = GDT_ADDR;
    sregs.gdt.limit = (GDT_32.len() * 8 - 1) as u16;
    sregs.idt.base = 0;
    sregs.idt.limit = 0;
    sregs.cr3 = 0;
    sregs.cr4 = 0;
    sregs.cr0 = CR0_PE | CR0_ET;
    sregs.efer = 0;
}

/// RIP at `startup_32` (the start of the protected-mode kernel, `code32_start`), ESI at the
/// zero page; EBP, EDI and EBX zero, as the protocol asks.
pub fn initial_regs_32() -> kvm_regs {
    kvm_regs {
        rip: KERNEL_LOAD,
        rsi: super::zeropage::ZERO_PAGE,
        rsp: super::zeropage::BOOT_STACK,
        rflags: RFLAGS_RESERVED1,
        ..Default::default()
    }
}

/// RIP at `startup_64`, RSI at the zero page, interrupts off.
// [tour:linux-regs]
pub fn initial_regs() -> kvm_regs {
    kvm_regs {
        rip: KERNEL_LOAD + STARTUP_64_OFFSET,
        rsi: super::zeropage::ZERO_PAGE,
        rsp: super::zeropage::BOOT_STACK,
        rflags: RFLAGS_RESERVED1,
        ..Default::default()
    }
}
// [/tour:linux-regs]

/// CPUID leaf 1, ECX bit 31: "running under a hypervisor". KVM_GET_SUPPORTED_CPUID leaves it
/// clear (the VMM decides); without it Linux never looks at KVM's leaves at 0x4000_0000, so it
/// has no kvmclock, no TSC frequency, and calibrates against the PIT instead.
pub const CPUID_1_ECX_HYPERVISOR: u32 = 1 << 31;
/// KVM's signature leaf ("KVMKVMKVM\0\0\0" in EBX, ECX, EDX).
pub const KVM_CPUID_SIGNATURE: u32 = 0x4000_0000;

/// What a Linux guest's CPUID says beyond KVM_GET_SUPPORTED_CPUID: that it runs on a
/// hypervisor. Returns whether KVM's own leaves (kvmclock and friends) are in the table.
pub fn patch_cpuid(table: &mut crate::kvm::cpuid::CpuidTable) -> bool {
    let n = (table.header.nent as usize).min(table.entries.len());
    let mut kvm_leaves = false;
    for entry in &mut table.entries[..n] {
        match entry.function {
            1 => entry.ecx |= CPUID_1_ECX_HYPERVISOR,
            KVM_CPUID_SIGNATURE => kvm_leaves = entry.ebx == u32::from_le_bytes(*b"KVMK"),
            _ => {}
        }
    }
    kvm_leaves
}

#[cfg(test)]
mod tests;

/// Guest RAM for `--linux` unless `--mem` says otherwise.
pub const DEFAULT_LINUX_RAM: u64 = 256 << 20;

/// A Linux kernel booted through the x86 boot protocol, as a [`Boot`].
pub struct Linux {
    boot: LinuxBoot,
    image: Image,
    initrd: Option<Vec<u8>>,
    cmdline: String,
    /// `--cpus`: vCPU 0 boots, the others wait for the kernel to start them; `smp`: it was
    /// given, and the kernel gets an MP table.
    cpus: usize,
    /// The MP table or the ACPI tables, if any.
    firmware: Firmware,
    halts: HaltCheck,
}

/// `--linux`: the setup header and every size checked, then the host (a paravirtual KVM cannot
/// boot Linux: one line, status 4, before a large initrd is read), then the files read.
pub fn choose(config: &Config, stops: &Stops) -> Result<Box<dyn Boot>, Ending> {
    let path = config.value("--linux").unwrap_or_default();
    let kernel = open_file(
        path,
        "kernel (bzImage)",
        &format!("a Linux bzImage starts with its setup header; {GIVE_A_BZIMAGE}"),
    )?;
    let header = parse_header(kernel.head(), kernel.len()).map_err(|why| kernel.error(why))?;
    crate::console::note(|| {
        format!("{path}: bzImage, boot protocol {}, {} setup sectors, loadflags {:#04x}, xloadflags {:#x}, cmdline_size {}, initrd_addr_max {:#x}, kernel_alignment {:#x}, init_size {:#x}", header.version_text(), header.setup_sects, header.loadflags, header.xloadflags, header.cmdline_size, header.initrd_addr_max, header.kernel_alignment, header.init_size)
    });
    let initrd = match config.value("--initrd") {
        Some(p) => Some(open_file(
            p,
            "initrd",
            "an initrd must be a non-empty cpio archive (the initramfs format)",
        )?),
        None => None,
    };
    let ram = config.value("--mem").map(super::parse_mem).transpose()?.unwrap_or(DEFAULT_LINUX_RAM);
    if ram > super::LOW_RAM_END {
        return Err(Ending::Usage(format!("--linux takes --mem up to 3G (its E820 map has no RAM above the 3 GiB hole), not {} MiB", ram >> 20)));
    }
    let cmdline = config.value("--cmdline").unwrap_or(DEFAULT_CMDLINE).to_string();
    super::check_cmdline(&cmdline)?;
    let mut boot = plan(header, kernel.len(), ram, cmdline.len(), initrd.as_ref().map(|i| i.len()))
        .map_err(|problem| match problem {
            PlanProblem::Cmdline(why) => Ending::Usage(why),
            PlanProblem::Kernel(why) => kernel.error(why),
            PlanProblem::Initrd(why) => {
                initrd.as_ref().map_or(Ending::Usage(why.clone()), |i| i.error(why))
            }
        })?;
    boot.entry32 = match config.value("--linux-entry") {
        None | Some("64") => false,
        Some("32") => true,
        Some(other) => {
            return Err(Ending::Usage(format!("--linux-entry takes 32 or 64, not '{other}'")))
        }
    };
    let cpus = config.flag("--cpus").then(|| crate::smp::count(config)).transpose()?;
    let cpus = cpus.unwrap_or(1);
    crate::hostcheck::linux_boot_possible(&crate::machine::open_kvm()?).map_err(Ending::NoKvm)?;
    if cpus > 1 {
        crate::smp::check_host(cpus)?;
    }
    let firmware = firmware::choose(cpus, config.flag("--cpus"), config.flag("--disk"))?;
    boot.acpi_rsdp = firmware.rsdp();
    let image = kernel.read(stops)?;
    let initrd = initrd.map(|i| i.read(stops).map(|i| i.bytes.into_owned())).transpose()?;
    let halts = HaltCheck::new(cpus);
    Ok(Box::new(Linux { boot, image, initrd, cmdline, cpus, firmware, halts }))
}

/// A kernel or initrd file, opened and checked (an empty one gets the reason for its kind).
fn open_file(path: &str, what: &str, empty: &str) -> Result<Opened, Ending> {
    let error = |reason: String| Ending::Image { path: path.to_string(), reason };
    let meta = std::fs::metadata(path)
        .map_err(|e| error(format!("cannot be opened as the {what}: {e}")))?;
    if meta.is_file() && meta.len() == 0 {
        return Err(error(format!("is empty: {empty}")));
    }
    super::open(path)
}

impl Layer for Linux {
    fn after_memory(&mut self, m: &mut Setup) -> Result<(), Ending> {
        kernel::interrupt_controllers(m, true)
    }

    fn after_vcpus(&mut self, m: &mut Setup, vcpus: &mut [Vcpu]) -> Result<(), Ending> {
        self.firmware.wire(vcpus)?;
        kernel::cpuid(m, vcpus, |table| {
            let kvm_leaves = patch_cpuid(table);
            let leaves = if kvm_leaves { "present" } else { "absent" };
            crate::console::note(|| {
                format!("CPUID: KVM_GET_SUPPORTED_CPUID plus the hypervisor bit (leaf 1 ECX bit 31); KVM's leaves at 0x40000000 (kvmclock): {leaves}")
            });
        })
    }

    fn vcpu_hook(&mut self, index: usize) -> Option<Box<dyn VcpuHook>> {
        Some(self.halts.hook(index, true))
    }

    fn tick(&mut self, control: &Control) {
        self.halts.tick(control);
    }
}

impl Boot for Linux {
    fn layout(&self) -> Layout {
        Layout { ram: self.boot.ram, slots: vec![(0, self.boot.ram)] }
    }

    fn names(&self) -> Vec<String> {
        vec![self.image.name.clone(); self.cpus]
    }

    fn one_guest(&self) -> bool {
        true
    }

    fn load(&mut self, memory: &GuestMemory) -> Result<(), Ending> {
        load(memory, &self.boot, &self.image.bytes, &self.cmdline, self.initrd.as_deref())
            .map_err(|e| self.image.error(e))?;
        self.firmware.write(memory, self.cpus)?;
        crate::console::note(|| format!("Linux: {}", self.firmware.describe()));
        let zp = super::zeropage::ZERO_PAGE;
        let initrd = match self.boot.initrd {
            Some((addr, size)) => format!(", initrd {size} bytes at {addr:#x}"),
            None => ", no initrd".into(),
        };
        crate::console::note(|| {
            match self.boot.entry32 {
            true => format!("vCPU 0 ({}): Linux: 32-bit entry startup_32 at {KERNEL_LOAD:#x}, paging off, ESI {zp:#x} (boot_params), command line at {:#x}{initrd}", self.image.name, super::zeropage::CMDLINE_ADDR),
            false => format!("vCPU 0 ({}): Linux: 64-bit entry startup_64 at {:#x}, RSI {zp:#x} (boot_params), page tables at {:#x} (0..4 GiB identity-mapped), command line at {:#x}{initrd}", self.image.name, KERNEL_LOAD + STARTUP_64_OFFSET, super::zeropage::PAGE_TABLES, super::zeropage::CMDLINE_ADDR),
        }
        });
        Ok(())
    }

    fn start(&self, index: usize, vcpu: &Vcpu) -> Result<(), Ending> {
        if index > 0 {
            return Ok(()); // an application processor: the kernel starts it (smp/mod.rs)
        }
        let mut sregs = vcpu.get_sregs()?;
        let regs = match self.boot.entry32 {
            true => (set_sregs_32(&mut sregs), initial_regs_32()).1,
            false => (set_sregs(&mut sregs), initial_regs()).1,
        };
        vcpu.set_sregs(&sregs)?;
        vcpu.set_regs(&regs).map_err(Ending::from)
    }
}
