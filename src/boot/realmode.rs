//! The simplest way into a machine: a flat binary in 16-bit real mode, as the C mini-kvm ran
//! its guests (docs/c-vmm.md). No firmware: the VMM writes the image into guest RAM and sets
//! the registers with KVM_SET_SREGS and KVM_SET_REGS to the state the image expects.
//!
//! Guest `i` gets its own 256 KiB memory slot at guest-physical `i * 0x40000`, and its segment
//! registers all hold `i * 0x4000` (in real mode a segment's base is its selector times 16,
//! Intel SDM Vol. 3A, 20.1.1), so each guest sees its own image at address 0, CS:IP =
//! `i*0x4000:0000`. SP = 0: the first push wraps to 0xFFFE. CR0.PE clear: real mode. Several
//! guests still share one physical memory, as the cores of one board do.

use crate::error::Ending;
use crate::guests::Image;
use crate::kvm::bindings::kvm_segment;
use crate::kvm::Vcpu;
use crate::machine::{Boot, Layer, Layout};
use crate::memory::GuestMemory;

/// Each guest's memory slot, and so the largest flat real-mode guest.
pub const SLOT_SIZE: u64 = 0x40000;

/// Flat real-mode guests, one vCPU each.
pub struct RealMode {
    pub images: Vec<Image>,
}

impl RealMode {
    /// The images, checked to fit a slot.
    pub fn new(images: Vec<Image>) -> Result<RealMode, Ending> {
        for image in &images {
            image.fits(SLOT_SIZE, "a real-mode guest's 256 KiB slot")?;
        }
        Ok(RealMode { images })
    }
}

impl Layer for RealMode {}

impl Boot for RealMode {
    // [tour:slots]
    fn layout(&self) -> Layout {
        let n = self.images.len() as u64;
        Layout { ram: n * SLOT_SIZE, slots: (0..n).map(|i| (i * SLOT_SIZE, SLOT_SIZE)).collect() }
    }
    // [/tour:slots]

    fn names(&self) -> Vec<String> {
        self.images.iter().map(|i| i.name.clone()).collect()
    }

    fn load(&mut self, memory: &GuestMemory) -> Result<(), Ending> {
        for (i, image) in self.images.iter().enumerate() {
            let base = i as u64 * SLOT_SIZE;
            memory.write(base, &image.bytes).map_err(|e| image.error(e))?;
            crate::console::note(|| {
                let (len, from) = (image.bytes.len(), image.path.as_deref().unwrap_or("embedded"));
                format!("vCPU {i} ({}): {len} bytes from {from}; real mode, CS:IP {:04x}:0000 (physical {base:#x})", image.name, base >> 4)
            });
        }
        Ok(())
    }

    // [tour:real-mode-start]
    fn start(&self, index: usize, vcpu: &Vcpu) -> Result<(), Ending> {
        let selector = ((index as u64 * SLOT_SIZE) >> 4) as u16;
        let segment = |type_| kvm_segment {
            base: u64::from(selector) << 4,
            limit: 0xFFFF,
            selector,
            type_,
            present: 1,
            s: 1,
            ..Default::default()
        };
        let mut sregs = vcpu.get_sregs()?;
        sregs.cs = segment(0xB); // execute/read code
        (sregs.ds, sregs.es, sregs.fs, sregs.gs, sregs.ss) =
            (segment(3), segment(3), segment(3), segment(3), segment(3));
        sregs.cr0 = (sregs.cr0 | 0x10) & !0x8000_0001; // ET on; PG and PE off: real mode
        vcpu.set_sregs(&sregs)?;
        let regs =
            crate::kvm::bindings::kvm_regs { rip: 0, rsp: 0, rflags: 2, ..Default::default() };
        vcpu.set_regs(&regs)?; // RFLAGS bit 1 is reserved and always set
        Ok(())
    }
    // [/tour:real-mode-start]
}
