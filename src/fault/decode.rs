//! The instruction at a faulting address, decoded where it says something: the forms that
//! stop a guest or leave it (`ud2`, `int n`, `int3`, `hlt`, `in`/`out`), and zero bytes, which
//! are no code at all. Anything else is left as hex: this is not a disassembler.
//!
//! Opcodes: Intel SDM Vol. 2, Appendix A "Opcode Map" (one-byte map: CC, CD, CE, E4-E7, EC-EF,
//! F1, F4, 6C-6F; two-byte map: 0F 0B); prefixes 66 (operand size) and F3 (rep) in 2.1.1, read by x86::prefixes.

use crate::x86::CodeSize;

/// The instruction `bytes` start with, in words, if it is one this decoder knows.
pub fn decode(bytes: &[u8], size: CodeSize) -> Option<String> {
    // The default operand size is 32 bits, or 16 in 16-bit code; 66 picks the other.
    let p = crate::x86::prefixes(bytes);
    let (wide, rep, at) = ((size != CodeSize::Bits16) != p.operand_size, p.rep, p.len);
    let acc = if wide { "eax" } else { "ax" };
    let imm = bytes.get(at + 1).copied();
    let text = match (bytes.get(at)?, imm) {
        (0x0F, Some(0x0B)) => "ud2: raises #UD (invalid opcode, vector 6) on purpose".into(),
        (0xCD, Some(n)) => format!("int {n:#x}: a software interrupt through vector {n:#x}"),
        (0xCC, _) => "int3: raises #BP (breakpoint, vector 3)".into(),
        (0xF1, _) => "int1: raises #DB (debug, vector 1)".into(),
        (0xCE, _) => "into: raises #OF (overflow, vector 4) if OF is set".into(),
        (0xF4, _) => "hlt: waits for the next interrupt".into(),
        (0xE4, Some(p)) => format!("in al, {p:#x}: port input"),
        (0xE5, Some(p)) => format!("in {acc}, {p:#x}: port input"),
        (0xEC, _) => "in al, dx: port input".into(),
        (0xED, _) => format!("in {acc}, dx: port input"),
        (0xE6, Some(p)) => format!("out {p:#x}, al: port output"),
        (0xE7, Some(p)) => format!("out {p:#x}, {acc}: port output"),
        (0xEE, _) => "out dx, al: port output".into(),
        (0xEF, _) => format!("out dx, {acc}: port output"),
        (op @ 0x6C..=0x6F, _) => string_io(*op, wide, rep),
        (0x00, Some(0x00)) => {
            "add [...], al: two zero bytes, most likely memory that holds no code".into()
        }
        _ => return None,
    };
    Some(text)
}

/// `ins`/`outs` (6C-6F): string port I/O, one element or, with `rep`, ECX of them.
fn string_io(op: u8, wide: bool, rep: bool) -> String {
    let name = match (op, wide) {
        (0x6C, _) => "insb",
        (0x6D, false) => "insw",
        (0x6D, true) => "insd",
        (0x6E, _) => "outsb",
        (0x6F, false) => "outsw",
        _ => "outsd",
    };
    let rep = if rep { "rep " } else { "" };
    format!("{rep}{name}: string port I/O")
}

/// Up to `n` bytes as `0f 0b 90`.
pub fn hex_bytes(bytes: &[u8], n: usize) -> String {
    let shown: Vec<String> = bytes.iter().take(n).map(|b| format!("{b:02x}")).collect();
    shown.join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const B16: CodeSize = CodeSize::Bits16;
    const B64: CodeSize = CodeSize::Bits64;

    #[test]
    fn the_instructions_that_end_a_guest_are_named() {
        assert!(decode(&[0x0F, 0x0B], B16).unwrap().starts_with("ud2: raises #UD"));
        assert!(decode(&[0xCD, 0x80], B64).unwrap().starts_with("int 0x80:"));
        assert!(decode(&[0xCC], B64).unwrap().starts_with("int3: raises #BP"));
        assert!(decode(&[0xF4, 0x00], B16).unwrap().starts_with("hlt:"));
        assert!(decode(&[0x00, 0x00, 0x00], B16).unwrap().contains("no code"));
    }

    #[test]
    fn port_io_with_its_operand_size() {
        assert_eq!(decode(&[0xEE], B16).unwrap(), "out dx, al: port output");
        assert_eq!(decode(&[0xEF], B16).unwrap(), "out dx, ax: port output");
        assert_eq!(decode(&[0x66, 0xEF], B16).unwrap(), "out dx, eax: port output");
        assert_eq!(decode(&[0xED], B64).unwrap(), "in eax, dx: port input");
        assert_eq!(decode(&[0x66, 0xE5, 0x60], B64).unwrap(), "in ax, 0x60: port input");
        assert_eq!(decode(&[0xE6, 0x80], B64).unwrap(), "out 0x80, al: port output");
        assert_eq!(decode(&[0xF3, 0x6E], B64).unwrap(), "rep outsb: string port I/O");
        assert_eq!(decode(&[0x6D], B16).unwrap(), "insw: string port I/O");
    }

    #[test]
    fn anything_else_is_left_as_hex() {
        assert_eq!(decode(&[0x90], B64), None);
        assert_eq!(decode(&[0x0F], B64), None, "a lone 0F");
        assert_eq!(decode(&[0xCD], B64), None, "int without its vector");
        assert_eq!(decode(&[], B64), None);
        assert_eq!(decode(&[0x66, 0x66], B64), None);
        assert_eq!(hex_bytes(&[0x0F, 0x0B, 0x90], 2), "0f 0b");
    }
}
