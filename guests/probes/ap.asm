; ap: vCPU 0 starts vCPU 1 with INIT and two STARTUP IPIs; vCPU 1 ends with EXIT_STATUS 0xA9.
; mode: real
;
; Run on two vCPUs of a VM with the in-kernel irqchip, every LAPIC set with KVM_SET_LAPIC
; (src/smp/mod.rs). vCPU 0 (the bootstrap processor) enters 32-bit protected mode to reach its
; local APIC at 0xFEE00000, writes the interrupt command register (Intel SDM Vol. 3A 11.6.1,
; and the MP specification's B.4 "universal start-up algorithm"), then EXIT_STATUS 0. vCPU 1
; waits inside KVM until the STARTUP IPI, whose vector 0x01 starts it in real mode at
; 0x01 * 4 KiB = 0x1000, CS:IP 0100:0000.
bits 16
org 0
%include "hypercall.inc"
ICR_LOW  equ 0xFEE00300
ICR_HIGH equ 0xFEE00310
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
    mov dword [ICR_HIGH], 1 << 24   ; destination: APIC ID 1
    mov dword [ICR_LOW], 0x4500     ; INIT, level assert
    mov dword [ICR_LOW], 0x4601     ; STARTUP, vector 0x01: start at 0x1000
    mov dword [ICR_LOW], 0x4601     ; and again, as the specification says
    hc_exit_status 0
align 8
gdt:
    dq 0
    dq 0x00CF9A000000FFFF   ; 0x08: flat 32-bit code
    dq 0x00CF92000000FFFF   ; 0x10: flat 32-bit data
gdt_pointer:
    dw gdt_pointer - gdt - 1
    dd gdt
times 0x1000 - ($ - $$) db 0
bits 16
ap:                         ; vCPU 1, in real mode at 0100:0000
    hc_exit_status 0xA9
