; uart_echo: echoes input through COM1 (polls LSR.DR, reads RBR, writes THR) until the carrier drops.
; mode: real
;
; Input has ended when no byte is waiting (LSR.DR = 0) and DCD is down (MSR bit 7 = 0).
bits 16
org 0
%include "hypercall.inc"
.poll:
    mov dx, COM1 + UART_LSR
    in al, dx
    test al, LSR_DR
    jnz .byte
    mov dx, COM1 + UART_MSR
    in al, dx
    test al, MSR_DCD
    jnz .poll               ; carrier up: more input may come
    mov dx, COM1 + UART_LSR ; carrier down: one last look for a byte that raced in
    in al, dx
    test al, LSR_DR
    jz .done
.byte:
    mov dx, COM1 + UART_RBR
    in al, dx
    mov dx, COM1 + UART_THR
    out dx, al
    jmp .poll
.done:
    hc_exit
