; uart_lsr: prints COM1's LSR and MSR as read right after reset: "LSR=60\nMSR=B0\n".
; mode: real
bits 16
org 0
%include "hypercall.inc"
    mov si, lsr_text
    call puts
    mov dx, COM1 + UART_LSR
    in al, dx
    call print_hex
    mov si, msr_text
    call puts
    mov dx, COM1 + UART_MSR
    in al, dx
    call print_hex
    mov al, 10
    call putc
    hc_exit

; print_hex: AL as two upper-case hex digits.
print_hex:
    push ax
    shr al, 4
    call .digit
    pop ax
    and al, 0x0F
.digit:
    add al, '0'
    cmp al, '9'
    jbe .print
    add al, 'A' - '9' - 1
.print:
    jmp putc

putc:
    push ax
    push bx
    push dx
    hc_putchar al
    pop dx
    pop bx
    pop ax
    ret

%include "print16.inc"

lsr_text: db "LSR=", 0
msr_text: db 10, "MSR=", 0
