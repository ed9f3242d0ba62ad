//! AML, the ACPI Machine Language a DSDT is written in: the handful of encodings a description
//! of fixed devices needs, each a small function returning bytes.
//!
//! Reference: ACPI Specification 6.5, 20.2 "AML Grammar Definition" (20.2.2 name objects,
//! 20.2.3 data objects, 20.2.4 package length, 20.2.5 term objects) and 6.4 "Resource Data
//! Types for ACPI" (6.4.2.9 End Tag, 6.4.2.5 I/O Port, 6.4.3.4 32-Bit Fixed Memory Range,
//! 6.4.3.6 Extended Interrupt).
//!
//! AML is a byte code the guest's ACPI interpreter runs once to build its namespace. What the
//! DSDT here holds is, in ASL (the source form `iasl` compiles):
//!
//! ```text
//! Scope (\_SB) {
//!     Device (VR00) {
//!         Name (_HID, "LNRO0005")          // virtio-mmio, as Linux's driver matches it
//!         Name (_UID, 0)
//!         Name (_CRS, ResourceTemplate () {
//!             Memory32Fixed (ReadWrite, 0xD0000000, 0x1000)
//!             Interrupt (ResourceConsumer, Edge, ActiveHigh, Exclusive) { 5 }
//!         })
//!     }
//! }
//! ```
//!
//! Objects that contain others (Scope, Device, Buffer) start with a *package length*: the
//! number of bytes from the length itself to the object's end, in 1 to 4 bytes.

/// A NameSeg: four characters, `[A-Z_][A-Z0-9_]{3}` (names are padded with `_`).
pub type NameSeg = [u8; 4];

pub const ZERO_OP: u8 = 0x00;
pub const ONE_OP: u8 = 0x01;
pub const NAME_OP: u8 = 0x08;
pub const BYTE_PREFIX: u8 = 0x0A;
pub const WORD_PREFIX: u8 = 0x0B;
pub const DWORD_PREFIX: u8 = 0x0C;
pub const STRING_PREFIX: u8 = 0x0D;
pub const QWORD_PREFIX: u8 = 0x0E;
pub const SCOPE_OP: u8 = 0x10;
pub const BUFFER_OP: u8 = 0x11;
pub const DUAL_NAME_PREFIX: u8 = 0x2E;
pub const MULTI_NAME_PREFIX: u8 = 0x2F;
pub const EXT_OP_PREFIX: u8 = 0x5B;
/// After [`EXT_OP_PREFIX`].
pub const DEVICE_OP: u8 = 0x82;
pub const ROOT_CHAR: u8 = b'\\';

// Resource descriptor tags (6.4): a small item's tag byte holds its type and length; a large
// item's tag byte is 0x80 | type, followed by a 16-bit length.
/// I/O Port descriptor, small item type 0x08, 7 bytes.
pub const IO_PORT_TAG: u8 = 0x47;
/// End Tag, small item type 0x0F, 1 byte (the checksum).
pub const END_TAG: u8 = 0x79;
/// 32-Bit Fixed Memory Range, large item type 0x06.
pub const MEMORY32_FIXED_TAG: u8 = 0x86;
/// Extended Interrupt, large item type 0x09.
pub const EXTENDED_INTERRUPT_TAG: u8 = 0x89;

/// The largest package length the encoding holds (4 bytes: 4 + 3 * 8 bits).
#[cfg(test)]
pub const PKG_LENGTH_MAX: usize = (1 << 28) - 1;

/// The package length for `contents` bytes following it (20.2.4): one byte up to 63 in all;
/// otherwise the lead byte's bits 7-6 give the number of bytes that follow, its bits 3-0 are
/// the lowest nibble, and each following byte the next 8 bits. The length counts itself.
/// The DSDT built here is a few hundred bytes; `contents` must stay below 2^28.
pub fn pkg_length(contents: usize) -> Vec<u8> {
    if contents < 63 {
        return vec![(contents + 1) as u8];
    }
    for extra in 1..=3usize {
        let total = contents + 1 + extra;
        if total < 1 << (4 + 8 * extra) {
            let mut out = vec![((extra as u8) << 6) | (total & 0xF) as u8];
            for k in 0..extra {
                out.push((total >> (4 + 8 * k)) as u8);
            }
            return out;
        }
    }
    // An invariant of the callers (acpi.rs bounds what goes into the DSDT), not guest input.
    panic!("AML package of {contents} bytes exceeds PkgLength's 2^28 limit");
}

/// A name path (20.2.2): `\` for a path from the root, then one NameSeg, or a dual or multi
/// name prefix before two or more.
pub fn name_string(root: bool, segs: &[NameSeg]) -> Vec<u8> {
    let mut out = Vec::with_capacity(2 + 4 * segs.len());
    if root {
        out.push(ROOT_CHAR);
    }
    match segs.len() {
        0 => out.push(ZERO_OP), // NullName
        1 => {}
        2 => out.push(DUAL_NAME_PREFIX),
        n => {
            out.push(MULTI_NAME_PREFIX);
            out.push(n as u8);
        }
    }
    for seg in segs {
        out.extend_from_slice(seg);
    }
    out
}

/// An integer constant in the fewest bytes: ZeroOp, OneOp, or a byte/word/dword/qword prefix.
pub fn integer(v: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(9);
    match v {
        0 => out.push(ZERO_OP),
        1 => out.push(ONE_OP),
        2..=0xFF => out.extend_from_slice(&[BYTE_PREFIX, v as u8]),
        0x100..=0xFFFF => {
            out.push(WORD_PREFIX);
            out.extend_from_slice(&(v as u16).to_le_bytes());
        }
        0x1_0000..=0xFFFF_FFFF => {
            out.push(DWORD_PREFIX);
            out.extend_from_slice(&(v as u32).to_le_bytes());
        }
        _ => {
            out.push(QWORD_PREFIX);
            out.extend_from_slice(&v.to_le_bytes());
        }
    }
    out
}

/// A string constant: ASCII, NUL-terminated.
pub fn string(s: &str) -> Vec<u8> {
    let mut out = vec![STRING_PREFIX];
    out.extend(s.bytes().filter(|b| (1..0x80).contains(b)));
    out.push(0);
    out
}

/// A compressed EISA ID ("PNP0501"): three letters in 5 bits each, then four hex digits,
/// stored big-endian in a dword, as ASL's EISAID() makes it.
pub fn eisa_id(id: &[u8; 7]) -> u32 {
    let letter = |c: u8| u32::from(c.wrapping_sub(b'@') & 0x1F);
    let hex = |c: u8| char::from(c).to_digit(16).unwrap_or(0);
    let value = (letter(id[0]) << 26)
        | (letter(id[1]) << 21)
        | (letter(id[2]) << 16)
        | (hex(id[3]) << 12)
        | (hex(id[4]) << 8)
        | (hex(id[5]) << 4)
        | hex(id[6]);
    value.swap_bytes()
}

/// `Name (seg, value)`: a named data object.
pub fn name(seg: NameSeg, value: &[u8]) -> Vec<u8> {
    let mut out = vec![NAME_OP];
    out.extend_from_slice(&seg);
    out.extend_from_slice(value);
    out
}

/// An opcode, a package length, then `name` and `body`.
fn package(op: &[u8], name: &[u8], body: &[u8]) -> Vec<u8> {
    let contents = name.len() + body.len();
    let mut out = op.to_vec();
    out.extend(pkg_length(contents));
    out.extend_from_slice(name);
    out.extend_from_slice(body);
    out
}

/// `Scope (path) { body }`.
pub fn scope(root: bool, path: &[NameSeg], body: &[u8]) -> Vec<u8> {
    package(&[SCOPE_OP], &name_string(root, path), body)
}

/// `Device (seg) { body }`.
pub fn device(seg: NameSeg, body: &[u8]) -> Vec<u8> {
    package(&[EXT_OP_PREFIX, DEVICE_OP], &seg, body)
}

/// `Buffer () { bytes }`: the size as an integer, then the bytes.
pub fn buffer(bytes: &[u8]) -> Vec<u8> {
    let mut body = integer(bytes.len() as u64);
    body.extend_from_slice(bytes);
    package(&[BUFFER_OP], &[], &body)
}

/// `Memory32Fixed (ReadWrite or ReadOnly, base, length)` (6.4.3.4).
pub fn memory32_fixed(writable: bool, base: u32, length: u32) -> Vec<u8> {
    let mut out = vec![MEMORY32_FIXED_TAG, 9, 0, u8::from(writable)];
    out.extend_from_slice(&base.to_le_bytes());
    out.extend_from_slice(&length.to_le_bytes());
    out
}

/// `Interrupt (ResourceConsumer, Edge or Level, ActiveHigh or ActiveLow, Exclusive or
/// Shared) { gsi }` (6.4.3.6): flags bit 0 consumer, bit 1 edge, bit 2 active-low, bit 3
/// shared; then one interrupt number.
pub fn interrupt(edge: bool, active_low: bool, shared: bool, gsi: u32) -> Vec<u8> {
    let flags = 1 | (u8::from(edge) << 1) | (u8::from(active_low) << 2) | (u8::from(shared) << 3);
    let mut out = vec![EXTENDED_INTERRUPT_TAG, 6, 0, flags, 1];
    out.extend_from_slice(&gsi.to_le_bytes());
    out
}

/// `IO (Decode16, min, max, alignment, length)` (6.4.2.5).
pub fn io_port(min: u16, max: u16, alignment: u8, length: u8) -> Vec<u8> {
    let mut out = vec![IO_PORT_TAG, 1];
    out.extend_from_slice(&min.to_le_bytes());
    out.extend_from_slice(&max.to_le_bytes());
    out.extend_from_slice(&[alignment, length]);
    out
}

/// `ResourceTemplate () { descriptors }`: a buffer of the descriptors and an End Tag whose
/// checksum byte makes all of the template's bytes sum to zero (6.4.2.9).
pub fn resource_template(descriptors: &[Vec<u8>]) -> Vec<u8> {
    let mut bytes: Vec<u8> = descriptors.concat();
    bytes.push(END_TAG);
    let sum = bytes.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    bytes.push(0u8.wrapping_sub(sum));
    buffer(&bytes)
}
