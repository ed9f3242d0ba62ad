; irqfd: an interrupt sent through KVM_IRQFD on GSI 5 arrives through the IDT; EXIT_STATUS 5.
; mode: long
;
; An IDT with one gate (vector 0x25: IRQ 5 once the 8259 is remapped to 0x20), only IRQ 5
; unmasked; then `out 0x83` asks the host to write to the irqfd, and `sti; hlt` waits for the
; interrupt. If it never comes, the host's watchdog ends the probe.
bits 64
org 0x1000
%include "hypercall.inc"
IDT equ 0x8000
start:
    lea rax, [rel handler]          ; gate 0x25: 64-bit interrupt gate to `handler`
    mov rdi, IDT + 0x25 * 16
    mov [rdi], ax
    mov word [rdi + 2], 0x08
    mov word [rdi + 4], 0x8E00
    shr rax, 16
    mov [rdi + 6], ax
    shr rax, 16
    mov [rdi + 8], eax
    lidt [rel idt_pointer]
    mov al, 0x11                    ; 8259: ICW1..ICW4, IRQ 0-7 -> vectors 0x20-0x27
    out 0x20, al
    out 0xA0, al
    mov al, 0x20
    out 0x21, al
    mov al, 0x28
    out 0xA1, al
    mov al, 4
    out 0x21, al
    mov al, 2
    out 0xA1, al
    mov al, 1
    out 0x21, al
    out 0xA1, al
    mov al, 0xDF                    ; only IRQ 5
    out 0x21, al
    mov al, 0xFF
    out 0xA1, al
    out 0x83, al                    ; the host writes to the irqfd now
.wait:
    sti
    hlt
    cmp byte [rel arrived], 1
    jne .wait
    cli
    hc_exit_status 5
handler:
    mov byte [rel arrived], 1
    push rax
    mov al, 0x20                    ; EOI
    out 0x20, al
    pop rax
    iretq
arrived: db 0
align 4
idt_pointer:
    dw 256 * 16 - 1
    dq IDT
