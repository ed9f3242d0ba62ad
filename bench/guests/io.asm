; io: 200,000 `out` to COM1's scratch register (0x3FF), a port with no side effects: port-I/O
; exit round trip.
bits 16
org 0
    mov dx, 0x3FF
    mov ecx, 200000
.again:
    out dx, al
    dec ecx
    jnz .again
    hlt
