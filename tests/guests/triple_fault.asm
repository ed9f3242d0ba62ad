; triple_fault: enters 32-bit protected mode with an empty IDT and executes ud2: a triple fault.
; mode: real
;
; #UD cannot be delivered (IDT limit 0), which raises #GP, then #DF, then shutdown: KVM reports
; KVM_EXIT_SHUTDOWN (or, on an emulating KVM, an emulation failure). Either is status 5.
bits 16
org 0
start:
    cli
    lgdt [gdt_descriptor]
    lidt [idt_descriptor]
    mov eax, cr0
    or eax, 1               ; CR0.PE
    mov cr0, eax
    jmp 0x08:protected      ; CS base is 0 only for vCPU 0: run this guest there
bits 32
protected:
    mov ax, 0x10
    mov ds, ax
    ud2

align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF   ; 0x08: flat 32-bit code
    dq 0x00CF92000000FFFF   ; 0x10: flat 32-bit data
gdt_descriptor:
    dw gdt_descriptor - gdt - 1
    dd gdt
idt_descriptor:
    dw 0
    dd 0
