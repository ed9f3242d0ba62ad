; flood: prints 'x' through PUTCHAR forever (an output flood: --timeout must still stop it).
; mode: real
bits 16
org 0
%include "hypercall.inc"
.again:
    hc_putchar 'x'
    jmp .again
