; ud2_real: prints its message, then executes ud2 in real mode with no interrupt table.
; mode: real
;
; #UD is vector 6: the CPU jumps to the CS:IP stored at 4 x 6 = 0x18. In a flat guest loaded at
; 0 that is the guest's own first bytes: here the text of its message ("mode" becomes CS:IP
; 6564:6f6d, physical 0x6c5ad, past the guest's 256 KiB of RAM), and the guest breaks there.
; The crash report must say that the fault most likely ran through that table.
bits 16
org 0
%include "hypercall.inc"
    jmp main
message: db "about to execute ud2 in real mode", 10, 0
main:
    mov si, message
    call puts
    ud2
    hlt

hc_putc_routine

%include "print16.inc"
