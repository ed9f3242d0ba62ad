; pmode: real mode -> 32-bit protected mode (no paging), then EXIT_STATUS 0x32.
; mode: real
bits 16
org 0
%include "hypercall.inc"
    cli
    lgdt [gdt_pointer]
    mov eax, cr0
    or eax, 1               ; CR0.PE
    mov cr0, eax
    jmp 0x08:protected      ; loads CS from the GDT: now 32-bit code
bits 32
protected:
    mov ax, 0x10
    mov ds, ax
    hc_exit_status 0x32
align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF   ; 0x08: flat 32-bit code
    dq 0x00CF92000000FFFF   ; 0x10: flat 32-bit data
gdt_pointer:
    dw gdt_pointer - gdt - 1
    dd gdt
