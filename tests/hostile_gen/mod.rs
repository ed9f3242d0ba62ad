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

pub mod virtqueue;

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

/// Random code of any size a flat guest may have (up to its 256 KiB slot, and past it), or a
/// long-mode guest (up to its 4 MiB less 84 KiB): not only the few hundred bytes above.
pub fn large_code(rng: &mut Rng, limit: usize) -> Vec<u8> {
    let len = match rng.below(4) {
        0 => limit,                                // exactly the limit
        1 => limit + 1 + rng.below(4096) as usize, // past it: refused
        _ => 201 + rng.below(limit as u64 - 200) as usize,
    };
    let mut code = random_code(rng);
    code.extend((code.len()..len).map(|_| rng.byte()));
    code.truncate(len);
    code
}

/// A guest that prints `lines` lines of 31 letters (A-Z over and over, on from one line to
/// the next) with PUTCHAR, then exits: output whose every byte is known ([`pattern_output`]).
pub fn pattern_guest(lines: u16) -> Vec<u8> {
    let [lo, hi] = lines.to_le_bytes();
    vec![
        0xBA, 0x00, 0x05, // mov dx, 0x500
        0xBF, lo, hi, // mov di, lines
        0xB3, 0x41, // mov bl, 'A'
        0xB9, 0x1F, 0x00, // .line: mov cx, 31
        0xB0, 0x01, 0xEE, // .ch: PUTCHAR bl
        0xFE, 0xC3, // inc bl
        0x80, 0xFB, 0x5B, // cmp bl, 'Z' + 1
        0x75, 0x02, // jne .same
        0xB3, 0x41, // mov bl, 'A'
        0xE2, 0xF2, // .same: loop .ch
        0x88, 0xDF, // mov bh, bl
        0xB3, 0x0A, 0xB0, 0x01, 0xEE, // PUTCHAR '\n'
        0x88, 0xFB, // mov bl, bh
        0x4F, // dec di
        0x75, 0xE3, // jnz .line
        0xB0, 0x00, 0xEE, // EXIT
        0xF4,
    ]
}

/// [`pattern_guest`] writing each byte to COM1's THR (port 0x3F8) instead of PUTCHAR, reading
/// LSR before each line as a polling driver does: the UART's path, coalesced writes included.
pub fn pattern_guest_uart(lines: u16) -> Vec<u8> {
    let [lo, hi] = lines.to_le_bytes();
    vec![
        0xBF, lo, hi, // mov di, lines
        0xB3, 0x41, // mov bl, 'A'
        0xBA, 0xFD, 0x03, // .line: mov dx, 0x3FD (LSR)
        0xEC, // in al, dx
        0xBA, 0xF8, 0x03, // mov dx, 0x3F8 (THR)
        0xB9, 0x1F, 0x00, // mov cx, 31
        0x88, 0xD8, // .ch: mov al, bl
        0xEE, // out dx, al
        0xFE, 0xC3, // inc bl
        0x80, 0xFB, 0x5B, // cmp bl, 'Z' + 1
        0x75, 0x02, // jne .same
        0xB3, 0x41, // mov bl, 'A'
        0xE2, 0xF2, // .same: loop .ch
        0xB0, 0x0A, 0xEE, // out '\n'
        0x4F, // dec di
        0x75, 0xE2, // jnz .line
        0xBA, 0x00, 0x05, 0xB0, 0x00, 0xEE, // EXIT
        0xF4,
    ]
}

/// What [`pattern_guest`] prints.
pub fn pattern_output(lines: u16) -> String {
    let mut out = String::new();
    let mut letter = 0u8;
    for _ in 0..lines {
        for _ in 0..31 {
            out.push((b'A' + letter) as char);
            letter = (letter + 1) % 26;
        }
        out.push('\n');
    }
    out
}

/// A bzImage in miniature (as tests/linux.rs builds it): a valid 2.15 setup header, one setup
/// sector, and a protected-mode part whose `startup_64` writes `L` to COM1 and does `cli; hlt`.
pub fn tiny_bzimage() -> Vec<u8> {
    let mut b = vec![0u8; 1024 + 0x400];
    b[0x1F1] = 1; // setup_sects
    b[0x1FE..0x200].copy_from_slice(&0xAA55u16.to_le_bytes());
    b[0x201] = 0x6A;
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x206..0x208].copy_from_slice(&0x020Fu16.to_le_bytes());
    b[0x211] = 1; // LOADED_HIGH
    b[0x22C..0x230].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    b[0x230..0x234].copy_from_slice(&0x20_0000u32.to_le_bytes());
    b[0x236..0x238].copy_from_slice(&1u16.to_le_bytes()); // XLF_KERNEL_64
    b[0x238..0x23C].copy_from_slice(&2047u32.to_le_bytes());
    b[0x260..0x264].copy_from_slice(&0x1_0000u32.to_le_bytes()); // init_size
    let code = [0x66, 0xBA, 0xF8, 0x03, 0xB0, b'L', 0xEE, 0xFA, 0xF4];
    b[1024 + 0x200..1024 + 0x200 + code.len()].copy_from_slice(&code);
    b
}

/// The setup header fields a loader reads (boot.rst, "The real-mode kernel header"): offset
/// and width.
pub const BZIMAGE_FIELDS: [(&str, usize, usize); 13] = [
    ("setup_sects", 0x1F1, 1),
    ("boot_flag", 0x1FE, 2),
    ("jump", 0x201, 1),
    ("header", 0x202, 4),
    ("version", 0x206, 2),
    ("loadflags", 0x211, 1),
    ("initrd_addr_max", 0x22C, 4),
    ("kernel_alignment", 0x230, 4),
    ("relocatable_kernel", 0x234, 1),
    ("xloadflags", 0x236, 2),
    ("cmdline_size", 0x238, 4),
    ("pref_address", 0x258, 8),
    ("init_size", 0x260, 4),
];

/// Values at the edges of a field of `width` bytes.
pub fn edge_values(width: usize) -> Vec<u64> {
    let max = if width == 8 { u64::MAX } else { (1u64 << (8 * width)) - 1 };
    let mut values: Vec<u64> = [
        0,
        1,
        max,
        max - 1,
        max & !0xFFF,
        max >> 1,
        (max >> 1) + 1,
        0x10_0000,
        0x1_0000_0000,
        0xFFFF_FFFF_FFFF_F000,
    ]
    .iter()
    .map(|v| v & max)
    .collect();
    values.sort_unstable();
    values.dedup();
    values
}

/// One of [`edge_values`], or a value at random.
pub fn edge_value(rng: &mut Rng, width: usize) -> u64 {
    let values = edge_values(width);
    let random = rng.next();
    if rng.below(4) == 0 {
        let max = if width == 8 { u64::MAX } else { (1u64 << (8 * width)) - 1 };
        return random & max;
    }
    rng.pick(&values)
}

/// The tiny bzImage with one field set to `value` (little-endian), and relocatable or not.
pub fn bzimage_with(field: usize, width: usize, value: u64, relocatable: bool) -> Vec<u8> {
    let mut b = tiny_bzimage();
    b[0x234] = u8::from(relocatable);
    b[field..field + width].copy_from_slice(&value.to_le_bytes()[..width]);
    b
}

pub mod gdb {
    //! gdb remote-protocol packets, well framed or not (gdb manual, "Remote Protocol").
    use super::Rng;

    /// One packet's payload: a real command with random arguments, or junk.
    pub fn payload(rng: &mut Rng) -> String {
        let random = rng.next();
        let addr = rng.pick(&[0u64, 0x7c00, 0x10_0000, 0x40_0000, u64::MAX, random]);
        let len = rng.pick(&[0u64, 1, 16, 0x4000, 0x10_0000, u64::MAX]);
        let hex = |rng: &mut Rng, n: usize| -> String {
            (0..n).map(|_| format!("{:02x}", rng.byte())).collect()
        };
        match rng.below(22) {
            0 => "?".into(),
            1 => "g".into(),
            2 => {
                let n = rng.below(300) as usize;
                format!("G{}", hex(rng, n))
            }
            3 => format!("m{addr:x},{len:x}"),
            4 => {
                let n = rng.below(8) as usize;
                format!("M{addr:x},{n:x}:{}", hex(rng, n))
            }
            5 => format!("p{:x}", rng.below(80)),
            6 => {
                let (reg, n) = (rng.below(80), rng.below(12) as usize);
                format!("P{reg:x}={}", hex(rng, n))
            }
            7 => format!("Z0,{addr:x},1"),
            8 => format!("z0,{addr:x},1"),
            9 => format!("Z{},{addr:x},{}", rng.below(5), rng.below(9)),
            10 => rng
                .pick(&["vCont;c", "vCont;s:1", "vCont;s:ffff", "vCont;c:2", "vCont?", "vCont;x"])
                .into(),
            11 => rng.pick(&["s", "c"]).into(),
            12 => format!("H{}{:x}", rng.pick(&["g", "c"]), rng.below(5)),
            13 => format!("T{:x}", rng.below(5)),
            14 => format!(
                "qXfer:features:read:{}:{:x},{:x}",
                rng.pick(&["target.xml", "i386-64bit.xml", "nope.xml", ""]),
                rng.below(100_000),
                rng.below(100_000)
            ),
            15 => format!(
                "qRcmd,{}",
                hex_of(rng.pick(&["help", "pagewalk 0x7c00", "breakpoints", "pagewalk", "xx"]))
            ),
            16 => {
                let n = rng.below(20) as usize;
                format!("qRcmd,{}", hex(rng, n))
            }
            17 => rng
                .pick(&[
                    "qSupported:multiprocess+",
                    "qAttached",
                    "qC",
                    "qfThreadInfo",
                    "qsThreadInfo",
                    "QStartNoAckMode",
                ])
                .into(),
            18 => format!("X{addr:x},{:x}:{}", rng.below(4), "}]}}"),
            19 => (0..rng.below(64)).map(|_| (rng.below(94) + 33) as u8 as char).collect(),
            20 => format!("qThreadExtraInfo,{:x}", rng.below(8)),
            _ => String::new(),
        }
    }

    fn hex_of(text: &str) -> String {
        text.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// A payload framed as gdb does (`$...#cc`), or not quite: a wrong checksum, a missing
    /// end, an escape at the end, a Ctrl-C, bare acks.
    pub fn bytes(rng: &mut Rng) -> Vec<u8> {
        let p = payload(rng);
        let sum = p.bytes().fold(0u8, |s, b| s.wrapping_add(b));
        match rng.below(12) {
            0 => format!("${p}#{:02x}", sum.wrapping_add(1)).into_bytes(),
            1 => format!("${p}").into_bytes(),
            2 => format!("${p}}}#{sum:02x}").into_bytes(),
            3 => vec![0x03],
            4 => b"+-+".to_vec(),
            _ => format!("${p}#{sum:02x}").into_bytes(),
        }
    }
}
