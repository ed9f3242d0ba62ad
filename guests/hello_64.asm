; hello_64: prints "Hello from 64-bit!" from long mode, then EXITs.
; mode: long
;
; What it teaches: 64-bit long mode without a boot loader. mini-kvm writes 4-level page tables
; and a GDT with a 64-bit code segment into guest memory and sets CR0.PG, CR4.PAE, EFER.LME/LMA
; and CS.L with one KVM_SET_SREGS (src/boot/longmode.rs); the guest starts at 0x1000 already in
; 64-bit mode. Port I/O and the hypercall ABI are the same as in real mode.
bits 64
org 0x1000
%include "hypercall.inc"

start:
    lea rsi, [rel message]
.next:
    mov bl, [rsi]
    test bl, bl
    jz .done
    mov al, HC_PUTCHAR
    mov dx, HC_PORT
    out dx, al
    inc rsi
    jmp .next
.done:
    hc_exit

message: db "Hello from 64-bit!", 10, 0
