; int80_pm32: `int 0x80` through the IDT in 32-bit protected mode, from ring 0 and ring 3.
; mode: real
; It enters protected mode itself (paging off), loads a GDT with ring-0 and ring-3 segments
; and a TSS (whose SS0:ESP0 is the stack the CPU switches to when ring 3 is interrupted), and
; an IDT whose gate 0x80 has DPL 3 so ring 3 may use it. The handler prints the privilege
; level the `int` came from (the low bits of the CS pushed on its stack). A KVM that cannot
; deliver software interrupts in protected mode stops at the first `int` instead
; (KVM_EXIT_INTERNAL_ERROR: `mini-kvm --host-check` row "int n in 32-bit ring 0").
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
    mov es, ax
    mov ss, ax
    mov esp, 0x9000
    mov ax, 0x28            ; the TSS descriptor
    ltr ax
    lidt [idt_pointer]
    int 0x80                ; from ring 0
    ; iret into ring 3: SS, ESP, EFLAGS, CS, EIP on the stack.
    push dword 0x23         ; user data selector | RPL 3
    push dword 0x7000       ; the user stack
    push dword 0x002        ; EFLAGS: interrupts off
    push dword 0x1B         ; user code selector | RPL 3
    push dword user
    iret
user:
    int 0x80                ; from ring 3: the gate's DPL 3 allows it, the CPU switches to ESP0
    jmp user                ; not reached: the second call ends the guest

handler:                    ; [esp] = EIP, [esp+4] = CS of the interrupted code
    mov esi, msg
    call puts
    mov eax, [esp + 4]
    and al, 3
    add al, '0'
    call putc
    mov al, 10
    call putc
    inc byte [calls]
    cmp byte [calls], 2
    je .done
    iret
.done:
    hc_exit

puts:
    lodsb
    test al, al
    jz .end
    call putc
    jmp puts
.end:
    ret

putc:
    push eax
    push ebx
    push edx
    hc_putchar al
    pop edx
    pop ebx
    pop eax
    ret

msg: db "int 0x80 from ring ", 0
calls: db 0

align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF   ; 0x08: ring-0 code
    dq 0x00CF92000000FFFF   ; 0x10: ring-0 data
    dq 0x00CFFA000000FFFF   ; 0x18: ring-3 code
    dq 0x00CFF2000000FFFF   ; 0x20: ring-3 data
    ; 0x28: a 32-bit available TSS (type 9), base tss, limit 103
    dw 103
    dw tss
    db 0, 0x89, 0, 0
gdt_pointer:
    dw gdt_pointer - gdt - 1
    dd gdt

align 8
idt:
    times 0x80 dq 0
    dw handler              ; offset 15:0 (the guest is below 64 KiB)
    dw 0x08
    db 0, 0xEE              ; present, DPL 3, 32-bit interrupt gate
    dw 0
idt_pointer:
    dw 0x81 * 8 - 1
    dd idt

align 4
tss:                        ; only ESP0/SS0 matter here
    dd 0                    ; previous task link
    dd 0x9000               ; ESP0
    dd 0x10                 ; SS0
    times 23 dd 0
    dw 0, 104               ; the I/O map base past the limit: no I/O bitmap
