; multiplication_short: prints the 2x table through the UART, then halts.
; mode: real
;
; What it teaches: the same printing routine as `multiplication`, with `putc` pointed at the
; UART's THR instead of the hypercall port: choosing the output device is a one-routine change.
bits 16
org 0
%include "hypercall.inc"

start:
    mov ch, 1
.column:
    mov ax, 2
    call print_dec
    mov al, 'x'
    call putc
    mov al, ch
    xor ah, ah
    call print_dec
    mov al, '='
    call putc
    mov al, 2
    mul ch
    call print_dec
    mov al, ' '
    call putc
    inc ch
    cmp ch, 10
    jne .column
    hlt

; putc: send AL to COM1's THR. (A driver for real hardware first waits for LSR.THRE; mini-kvm's
; transmitter is always ready.)
putc:
    push dx
    mov dx, COM1 + UART_THR
    out dx, al
    pop dx
    ret

%include "print16.inc"
