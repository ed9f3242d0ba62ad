; irq: the in-kernel 8259 PIC and 8254 PIT deliver 10 timer interrupts in long mode; EXIT_STATUS 10.
; mode: long
;
; An IDT with one gate (vector 0x20, IRQ 0 after remapping the PIC), the PIT at 100 Hz, then
; `sti; hlt` until the handler has counted 10 ticks. The host times the run.
bits 64
org 0x1000
%include "hypercall.inc"
IDT equ 0x8000
start:
    lea rax, [rel timer]            ; gate 0x20: 64-bit interrupt gate to `timer`
    mov rdi, IDT + 0x20 * 16
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
    mov al, 0xFE                    ; only IRQ 0
    out 0x21, al
    mov al, 0xFF
    out 0xA1, al
    mov al, 0x34                    ; 8254 channel 0, mode 2, 11932 = 100 Hz
    out 0x43, al
    mov al, 11932 & 0xFF
    out 0x40, al
    mov al, 11932 >> 8
    out 0x40, al
.wait:
    sti
    hlt
    cmp dword [rel ticks], 10
    jb .wait
    cli
    hc_exit_status 10
timer:
    inc dword [rel ticks]
    push rax
    mov al, 0x20                    ; EOI
    out 0x20, al
    pop rax
    iretq
align 4
ticks: dd 0
idt_pointer:
    dw 256 * 16 - 1
    dq IDT
