; putchar: 100,000 bytes through the PUTCHAR hypercall (port 0x500, AL = 1, BL = byte): 1,250
; lines of 79 'x' and a newline.
bits 16
org 0
    mov dx, 0x500
    mov si, 1250
.line:
    mov cx, 79
    mov bl, 'x'
.char:
    mov al, 1
    out dx, al
    loop .char
    mov bl, 10
    mov al, 1
    out dx, al
    dec si
    jnz .line
    hlt
