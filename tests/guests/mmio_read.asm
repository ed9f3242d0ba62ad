; mmio_read: reads and writes guest-physical 0xFFFF0, where no RAM is: prints "FF\n".
; mode: real
bits 16
org 0
%include "hypercall.inc"
    mov ax, 0xF000
    mov es, ax
    mov byte [es:0xFFF0], 0x12   ; KVM_EXIT_MMIO write: dropped
    mov al, [es:0xFFF0]          ; KVM_EXIT_MMIO read: all ones
    push ax
    shr al, 4
    call digit
    pop ax
    and al, 0x0F
    call digit
    hc_putchar 10
    hc_exit
digit:
    add al, '0'
    cmp al, '9'
    jbe .print
    add al, 'A' - '9' - 1
.print:
    hc_putchar al
    ret
