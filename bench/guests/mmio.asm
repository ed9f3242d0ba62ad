; mmio: 200,000 byte writes to guest-physical 0xF0000, where no memory slot is: MMIO exits.
bits 16
org 0
    mov ax, 0xF000
    mov es, ax
    mov ecx, 200000
.again:
    mov [es:0], al
    dec ecx
    jnz .again
    hlt
