; breakpoint: an int3 in 64-bit ring 0: does KVM report it to a debugger (KVM_GUESTDBG_USE_SW_BP)?
; mode: long
bits 64
org 0x1000
%include "hypercall.inc"
    int3
    hc_exit_status 0x33
