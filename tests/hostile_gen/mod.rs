//! The generators of tests/hostile.rs (and `make fuzz`): a seeded PRNG, random code, guests
//! aimed at the devices as 16-bit machine code, and Multiboot kernels to mutate.

#![allow(dead_code)] // the PRNG's whole interface, whichever parts a caller uses

/// xorshift64*: small, fast, and the same sequence everywhere.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn byte(&mut self) -> u8 {
        self.next() as u8
    }
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// Random bytes, sometimes led by instructions that aim at ports (so the devices see them).
pub fn random_code(rng: &mut Rng) -> Vec<u8> {
    let len = 1 + rng.below(200) as usize;
    let mut code: Vec<u8> = (0..len).map(|_| rng.byte()).collect();
    if rng.below(2) == 0 {
        let port = rng.pick(&[0x500u16, 0x3F8, 0x3FB, 0x3FD, 0x92, 0x4FE]);
        let mut lead = vec![0xBA, port as u8, (port >> 8) as u8]; // mov dx, port
        lead.extend_from_slice(&[0xB0, rng.below(5) as u8, 0xB3, rng.byte()]); // mov al/bl
        code.splice(0..0, lead);
    }
    code
}

pub mod devices {
    //! Guests aimed at the devices, as 16-bit real-mode machine code.
    use super::Rng;

    pub fn attack(rng: &mut Rng) -> Vec<u8> {
        let ports = [
            0x3F8u16, 0x3F9, 0x3FA, 0x3FB, 0x3FC, 0x3FD, 0x3FE, 0x3FF, 0x3F7, 0x4FE, 0x4FF, 0x500,
            0x501, 0x92, 0x91, 0x0, 0xFFFF, 0x20, 0x40, 0x61,
        ];
        let mut c = vec![0xFC]; // cld
        for _ in 0..1 + rng.below(30) {
            let port = rng.pick(&ports);
            c.extend_from_slice(&[0xBA, port as u8, (port >> 8) as u8]); // mov dx, port
            match rng.below(9) {
                0 => c.extend_from_slice(&[0xB0, rng.byte(), 0xEE]), // out dx, al
                1 => c.extend_from_slice(&[0xB8, rng.byte(), rng.byte(), 0xEF]), // out dx, ax
                2 => {
                    c.extend_from_slice(&[0x66, 0xB8]); // mov eax, imm32; out dx, eax
                    c.extend((0..4).map(|_| rng.byte()));
                    c.extend_from_slice(&[0x66, 0xEF]);
                }
                3 => c.push(rng.pick(&[0xEC, 0xED])), // in al/ax, dx
                4 => c.extend_from_slice(&[0x66, 0xED]), // in eax, dx
                5 => {
                    // rep outs{b,w,d} from DS:0, a wild count
                    let n = rng.pick(&[0u16, 1, 7, 0x100, 0x1000, 0xFFFF]);
                    c.extend_from_slice(&[0xB9, n as u8, (n >> 8) as u8, 0x31, 0xF6]);
                    c.extend_from_slice(rng.pick(&[
                        &[0xF3, 0x6E][..],
                        &[0xF3, 0x6F],
                        &[0xF3, 0x66, 0x6F],
                    ]));
                }
                6 => {
                    // rep ins{b,w} into ES:0x8000
                    let n = rng.pick(&[1u16, 0x10, 0x800, 0x1000]);
                    c.extend_from_slice(&[0xB9, n as u8, (n >> 8) as u8, 0xBF, 0x00, 0x80]);
                    c.extend_from_slice(rng.pick(&[&[0xF3, 0x6C][..], &[0xF3, 0x6D]]));
                }
                7 => {
                    // DLAB games: LCR bit 7 on, divisor bytes, off again
                    c.extend_from_slice(&[0xBA, 0xFB, 0x03, 0xB0, 0x80 | rng.byte(), 0xEE]);
                    c.extend_from_slice(&[0xBA, 0xF8, 0x03, 0xB0, rng.byte(), 0xEE, 0xEC]);
                    c.extend_from_slice(&[0xBA, 0xF9, 0x03, 0xB0, rng.byte(), 0xEE, 0xEC]);
                    if rng.below(2) == 0 {
                        c.extend_from_slice(&[0xBA, 0xFB, 0x03, 0xB0, 0x03, 0xEE]);
                    }
                }
                _ => {
                    // a hypercall with a random number and argument
                    c.extend_from_slice(&[
                        0xBA,
                        0x00,
                        0x05,
                        0xB0,
                        rng.pick(&[0, 1, 2, 3, 4, 0xFF]),
                    ]);
                    c.extend_from_slice(&[0xB3, rng.byte(), 0xEE]);
                }
            }
        }
        match rng.below(3) {
            0 => c.push(0xF4),                       // hlt
            1 => c.extend_from_slice(&[0xEB, 0xFE]), // jmp $: the timeout ends it
            _ => {
                // back to the start: a flood of whatever the sequence does
                let back = -(c.len() as i32 + 3);
                c.push(0xE9);
                c.extend_from_slice(&(back as i16).to_le_bytes());
            }
        }
        c
    }

    /// GETCHAR then PUTCHAR of what came, forever.
    pub const GETCHAR_LOOP: [u8; 15] = [
        0xBA, 0x00, 0x05, // mov dx, 0x500
        0xB0, 0x02, 0xEE, // .l: GETCHAR
        0xEC, // in al, dx
        0x88, 0xC3, // mov bl, al
        0xB0, 0x01, 0xEE, // PUTCHAR
        0xEB, 0xF3, // jmp .l
        0xF4,
    ];

    /// The UART in loopback (MCR bit 4): every THR byte comes back in RBR, forever.
    pub const LOOPBACK_FLOOD: [u8; 19] = [
        0xBA, 0xFC, 0x03, 0xB0, 0x10, 0xEE, // MCR = loopback
        0xBA, 0xF8, 0x03, // .l: dx = THR
        0xB0, 0x41, 0xEE, // out 'A'
        0xEC, // in al, dx (RBR)
        0xEB, 0xF7, // jmp .l
        0xF4, 0xF4, 0xF4, 0xF4,
    ];
}

/// A valid Multiboot kernel of the address-field kind: 32 bytes of header at 1 MiB, then
/// 32-bit code that prints "ok" and exits.
pub fn tiny_kernel() -> Vec<u8> {
    const MAGIC: u32 = 0x1BAD_B002;
    const FLAGS: u32 = 1 << 16;
    let load = 0x10_0000u32;
    let mut k = Vec::new();
    for w in [
        MAGIC,
        FLAGS,
        0u32.wrapping_sub(MAGIC.wrapping_add(FLAGS)),
        load,
        load,
        0,
        load + 0x1000,
        load + 32,
    ] {
        k.extend_from_slice(&w.to_le_bytes());
    }
    k.extend_from_slice(&[
        0x66, 0xBA, 0x00, 0x05, // mov dx, 0x500
        0xB0, 0x01, 0xB3, b'o', 0xEE, // PUTCHAR 'o'
        0xB3, b'k', 0xEE, // PUTCHAR 'k'
        0xB0, 0x00, 0xEE, // EXIT
        0xF4,
    ]);
    k
}

pub fn mutate(rng: &mut Rng, base: &[u8]) -> Vec<u8> {
    let mut k = base.to_vec();
    for _ in 0..1 + rng.below(6) {
        let hot = k.len().min(8192); // headers live at the start
        match rng.below(4) {
            0 => {
                let at = rng.below(hot as u64) as usize;
                k[at] = rng.byte();
            }
            1 => {
                let at = (rng.below(hot as u64) as usize) & !3;
                let v = rng.pick(&[0u32, 0xFFFF_FFFF, 0x7FFF_FFFF, 0x10_0000, 0xC000_0000, 0x8000]);
                if at + 4 <= k.len() {
                    k[at..at + 4].copy_from_slice(&v.to_le_bytes());
                }
            }
            2 => {
                let keep = 1 + rng.below(k.len() as u64) as usize;
                k.truncate(keep);
            }
            _ => {
                let at = rng.below(hot as u64) as usize;
                k[at] ^= 1 << rng.below(8);
            }
        }
        if k.is_empty() {
            k.push(0);
        }
    }
    k
}
