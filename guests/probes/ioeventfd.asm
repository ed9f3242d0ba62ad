; ioeventfd: stores to an address with a KVM_IOEVENTFD signal an eventfd and never exit; EXIT_STATUS 0x1E.
; mode: long
;
; The address is the disk's QueueNotify register, 0xD000_0050, in the hole below 4 GiB where
; no memory slot is. The boot protocol's page tables map only the first 4 MiB, so the probe
; maps virtual 0x40_0000 to physical 0xD000_0000 itself (PD entry 2, a 2 MiB page), then makes
; three 4-byte stores there. The host counts the eventfd's signals and any KVM_EXIT_MMIO.
bits 64
org 0x1000
%include "hypercall.inc"
PD equ 0x3FE000                     ; the page directory (boot/longmode.rs: TABLES_OFFSET + 0x2000)
start:
    mov rax, 0xD0000000 | 0x83      ; present, writable, 2 MiB page
    mov [PD + 2 * 8], rax
    invlpg [0x400000]
    mov dword [0x400050], 0
    mov dword [0x400050], 0
    mov dword [0x400050], 0
    hc_exit_status 0x1E
