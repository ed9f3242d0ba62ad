; multiplication: prints the 2x..9x multiplication tables on one line, then EXITs.
; mode: real
;
; What it teaches: a guest doing real work between exits. The loops and `mul` run inside the
; guest at CPU speed (or KVM's emulation speed); only each printed character leaves the guest.
; It ends with the EXIT hypercall instead of `hlt`: both stop the vCPU with status 0.
bits 16
org 0
%include "hypercall.inc"

start:
    mov cl, 2               ; left operand: 2..9
.row:
    mov ch, 1               ; right operand: 1..9
.column:
    xor ah, ah
    mov al, cl
    call print_dec
    mov al, 'x'
    call putc
    mov al, ch
    call print_dec
    mov al, '='
    call putc
    mov al, cl
    mul ch                  ; AX = CL * CH
    call print_dec
    mov al, ' '
    call putc
    inc ch
    cmp ch, 10
    jne .column
    inc cl
    cmp cl, 10
    jne .row
    hc_exit

; putc: print AL through the PUTCHAR hypercall (keeps every register).
hc_putc_routine

%include "print16.inc"
