; shutdown: a triple fault at a known address; are the registers still there afterwards?
; mode: real
; 32-bit protected mode with an empty IDT, then ud2 at `fault`: #UD cannot be delivered,
; nor the #GP and #DF that follow, so the CPU shuts down (KVM_EXIT_SHUTDOWN). The host then
; reads RIP: the address of `fault` (the registers were kept) or 0xFFF0 (KVM reset the vCPU).
bits 16
org 0
    cli
    lgdt [gdt_pointer]
    lidt [idt_pointer]
    mov eax, cr0
    or eax, 1               ; CR0.PE
    mov cr0, eax
    jmp 0x08:protected
bits 32
protected:
    mov ax, 0x10
    mov ds, ax
fault:
    ud2
align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF   ; 0x08: flat 32-bit code
    dq 0x00CF92000000FFFF   ; 0x10: flat 32-bit data
gdt_pointer:
    dw gdt_pointer - gdt - 1
    dd gdt
idt_pointer:
    dw 0
    dd 0
