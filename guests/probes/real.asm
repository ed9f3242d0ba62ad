; real: real mode works; 1,000 port exits to time one round trip, then EXIT_STATUS 0x42.
; mode: real
bits 16
org 0
%include "hypercall.inc"
    mov cx, 1000
.again:
    out 0x80, al            ; one KVM_EXIT_IO each: the host timestamps them
    loop .again
    hc_exit_status 0x42
