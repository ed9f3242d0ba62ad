; uart_lsr: prints COM1's LSR and MSR as read right after reset: "LSR=60\nMSR=B0\n".
; mode: real
bits 16
org 0
%include "hypercall.inc"
    mov si, lsr_text
    call puts
    mov dx, COM1 + UART_LSR
    in al, dx
    call print_hex8
    mov si, msr_text
    call puts
    mov dx, COM1 + UART_MSR
    in al, dx
    call print_hex8
    mov al, 10
    call putc
    hc_exit

hc_putc_routine

%include "print16.inc"

lsr_text: db "LSR=", 0
msr_text: db 10, "MSR=", 0
