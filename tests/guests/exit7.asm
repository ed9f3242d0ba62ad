; exit7: EXIT_STATUS 7: mini-kvm must exit with status 7.
; mode: real
bits 16
org 0
%include "hypercall.inc"
    hc_exit_status 7
