; counter: writes "0123456789" to the COM1 UART (no newline), then halts.
; mode: real
;
; What it teaches: a device register. Port 0x3F8 is COM1's transmitter holding register (THR)
; in a 16550A UART; writing a byte there sends it down the serial line, which mini-kvm's UART
; model turns into guest output. Unlike the hypercall port, this is how real hardware is
; driven: the same code prints on a PC's serial port.
bits 16
org 0
%include "hypercall.inc"

start:
    mov dx, COM1 + UART_THR
    mov al, '0'
.next:
    out dx, al              ; VM exit: the UART transmits AL
    inc al
    cmp al, '9' + 1
    jne .next
    hlt
