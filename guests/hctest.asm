; hctest: prints "Hello!", 42 and 1234 on separate lines, then EXITs.
; mode: real
;
; What it teaches: that an ABI must be agreed on. It uses only the calls the hypercall port has
; (PUTCHAR and EXIT) and formats numbers itself, in the guest, where that work belongs
; (docs/c-vmm.md tells what a guest that assumed a PUTNUM call got).
bits 16
org 0
%include "hypercall.inc"

start:
    mov si, greeting
    call puts
    mov ax, 42
    call print_dec
    mov al, 10
    call putc
    mov ax, 1234
    call print_dec
    mov al, 10
    call putc
    hc_exit

; putc: print AL through the PUTCHAR hypercall (keeps every register).
hc_putc_routine

%include "print16.inc"

greeting: db "Hello!", 10, 0
