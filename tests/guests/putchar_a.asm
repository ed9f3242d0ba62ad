; putchar_a: the smallest PUTCHAR: prints "A", then EXITs.
; mode: real
bits 16
org 0
    mov al, 1
    mov bl, 'A'
    mov dx, 0x500
    out dx, al
    mov al, 0               ; EXIT
    out dx, al
