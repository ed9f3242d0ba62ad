; int32: `int 0x80` in 32-bit protected mode at ring 0, through an IDT gate.
; mode: real
; The handler ends with EXIT_STATUS 0x80. A KVM that cannot deliver software interrupts there
; stops with an emulation failure instead (KVM_EXIT_INTERNAL_ERROR).
bits 16
org 0
%include "hypercall.inc"
    cli
    lgdt [gdt_pointer]
    mov eax, cr0
    or eax, 1               ; CR0.PE
    mov cr0, eax
    jmp 0x08:protected
bits 32
protected:
    mov ax, 0x10
    mov ds, ax
    mov ss, ax
    mov esp, 0x8000
    lidt [idt_pointer]
    int 0x80
    hc_exit_status 0x01     ; the handler did not run
handler:
    hc_exit_status 0x80
align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF   ; 0x08: flat 32-bit code
    dq 0x00CF92000000FFFF   ; 0x10: flat 32-bit data
gdt_pointer:
    dw gdt_pointer - gdt - 1
    dd gdt
align 8
idt:                        ; 0x81 gates; only 0x80 is present (an interrupt gate to handler)
    times 0x80 dq 0
    dw handler              ; offset 15:0 (the probe is loaded at 0, below 64 KiB)
    dw 0x08                 ; code selector
    db 0, 0x8E              ; present, DPL 0, 32-bit interrupt gate
    dw 0                    ; offset 31:16
idt_pointer:
    dw 0x81 * 8 - 1
    dd idt
