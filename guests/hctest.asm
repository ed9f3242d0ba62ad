; hctest: prints "Hello!", 42 and 1234 on separate lines, then EXITs.
; mode: real
;
; What it teaches: that an ABI must be agreed on. The seed's hctest called hypercalls 2
; ("PUTNUM") and 3 ("NEWLINE") that its VMM never had: 2 silently ate a key as GETCHAR and 3
; stopped the vCPU, so only "Hello!" ever appeared. This version uses the calls that exist
; (PUTCHAR and EXIT) and formats numbers itself, in the guest, where that work belongs.
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
