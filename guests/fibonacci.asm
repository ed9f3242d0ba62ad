; fibonacci: prints the first 15 Fibonacci numbers, then halts.
; mode: real
;
; What it teaches: 16-bit arithmetic in registers and a decimal printer (print16.inc), with
; every output byte one PUTCHAR exit.
bits 16
org 0
%include "hypercall.inc"

start:
    mov si, title
    call puts
    xor ax, ax              ; F(n)
    mov bx, 1               ; F(n+1)
    mov cx, 15
.next:
    call print_dec
    dec cx
    jz .done
    push ax
    mov al, ','
    call putc
    mov al, ' '
    call putc
    pop ax
    mov dx, ax              ; (F(n), F(n+1)) <- (F(n+1), F(n) + F(n+1))
    add dx, bx
    mov ax, bx
    mov bx, dx
    jmp .next
.done:
    mov al, 10
    call putc
    hlt

; putc: print AL through the PUTCHAR hypercall (keeps every register).
hc_putc_routine

%include "print16.inc"

title: db "Fibonacci: ", 0
