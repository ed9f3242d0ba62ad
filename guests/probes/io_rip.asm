; io_rip: where does RIP point when KVM stops the guest for port I/O?
; mode: real
; Mainline KVM on VMX/SVM exits with RIP at the `out`/`in` itself and skips the instruction when
; the VMM enters the guest again; a KVM that emulates the instruction may have moved RIP past
; it already (an `out` is then complete before the exit, an `in` is not). The host reads RIP
; at the two exits below: 0 or 2 for the `out`, 2 or 4 for the `in`.
bits 16
org 0
%include "hypercall.inc"
    out 0x80, al            ; at 0x0, 2 bytes
    in al, 0x80             ; at 0x2, 2 bytes
    hc_exit_status 0x10
