; lab_puthex: the guest of lab 1 (docs/labs/01-hypercall.md), PUTHEX of 0x00, 0x2A, 0xFF.
; mode: real
; PUTHEX is AL = 4 (the lab adds it), then a newline through PUTCHAR, then EXIT. Without the
; lab mini-kvm stops it at the first call: an unknown hypercall.
bits 16
org 0
%include "hypercall.inc"
%define HC_PUTHEX 4
    mov dx, HC_PORT
    mov bl, 0x00
    mov al, HC_PUTHEX
    out dx, al
    mov bl, 0x2A
    mov al, HC_PUTHEX
    out dx, al
    mov bl, 0xFF
    mov al, HC_PUTHEX
    out dx, al
    hc_putchar 10
    hc_exit
