; long_big: a 20 KiB long-mode image that checks its own data: "checksum ok\n".
; mode: long
;
; Page tables placed just after the load address would lie on top of any image over 4 KiB
; (docs/c-vmm.md); this guest sums 20 KiB of data that follows its code and compares with the
; sum nasm computed.
bits 64
org 0x1000
%include "hypercall.inc"
    lea rsi, [rel data]
    mov rcx, DATA_SIZE
    xor eax, eax
    xor edx, edx
.sum:
    mov dl, [rsi]
    add eax, edx
    inc rsi
    loop .sum
    lea rsi, [rel ok]
    cmp eax, EXPECTED
    je .print
    lea rsi, [rel bad]
.print:
    mov bl, [rsi]
    test bl, bl
    jz .done
    mov al, HC_PUTCHAR
    mov dx, HC_PORT
    out dx, al
    inc rsi
    jmp .print
.done:
    hc_exit

ok:  db "checksum ok", 10, 0
bad: db "checksum BAD", 10, 0
DATA_SIZE equ 20 * 1024
; byte i = (i * 7 + 3) mod 251, so the sum is known: computed below by nasm.
data:
%assign i 0
%assign total 0
%rep DATA_SIZE
    db (i * 7 + 3) % 251
    %assign total total + (i * 7 + 3) % 251
    %assign i i + 1
%endrep
EXPECTED equ total
