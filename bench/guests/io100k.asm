; io100k: 100,000 `out` to 0x3FF, for the vCPU scaling row (four of these at once).
bits 16
org 0
    mov dx, 0x3FF
    mov ecx, 100000
.again:
    out dx, al
    dec ecx
    jnz .again
    hlt
