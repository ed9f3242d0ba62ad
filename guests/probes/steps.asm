; steps: five plain instructions to single-step (no I/O in between), then EXIT_STATUS 0x55.
; mode: real
bits 16
org 0
%include "hypercall.inc"
    nop
    inc ax
    inc bx
    inc cx
    nop
    out 0x80, al
    inc dx
    hc_exit_status 0x55
