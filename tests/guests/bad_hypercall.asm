; bad_hypercall: calls hypercall 0x7F, which does not exist: a guest error (status 5).
; mode: real
bits 16
org 0
%include "hypercall.inc"
    mov al, 0x7F
    mov dx, HC_PORT
    out dx, al
    hlt
