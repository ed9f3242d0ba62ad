; ud2_long: executes ud2 in 64-bit long mode with no IDT: a triple fault at the ud2.
; mode: long
;
; #UD cannot be delivered (no IDT), which raises #GP, then #DF, then shutdown. The crash report
; decodes the instruction at the faulting RIP.
bits 64
org 0x1000
    nop
    ud2
    hlt
