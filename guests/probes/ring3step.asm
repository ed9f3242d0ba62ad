; ring3step: does single-stepping reach ring-3 code? Run with KVM_GUESTDBG_SINGLESTEP.
; mode: long
;
; A few ring-3 instructions at USER (0x1800), then `int 0x80` ends the probe (through the gate
; or as #UD, either way). The host counts debug exits whose pc is in [USER, USER + 16): none
; where ring-3 code runs natively, outside the emulator that reports the steps.
bits 64
org 0x1000
%include "hypercall.inc"
%include "ring3.inc"
start:
    call ring3_setup
    enter_ring3 user
on_ud:
on_gp:
on_int80:
    hc_exit_status 0x33
    ring3_routines
    times 0x800 - ($ - $$) db 0xCC ; pad: USER is at org + 0x800
user:                               ; USER = 0x1800
    nop
    nop
    nop
    int 0x80
    jmp user
