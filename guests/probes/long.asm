; long: runs in the VMM-built long mode and exits with EXIT_STATUS 0x64.
; mode: long
bits 64
org 0x1000
%include "hypercall.inc"
    hc_exit_status 0x64
