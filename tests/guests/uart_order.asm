; uart_order: THR writes mixed with what must see them in order (8 lines of '=', "aL DLL=0C z").
; mode: real
; For the coalesced ring, which takes over after 512 THR writes: 8 lines of 63 '=' (THR), then
; "a", a loopback byte read back through RBR and printed by PUTCHAR ("L"), a divisor written through 0x3F8 while DLAB is set and read back ("DLL=0C"),
; then " z\n" (THR). With or without --no-coalesce the output is the same.
bits 16
org 0
%include "hypercall.inc"
    mov dx, COM1 + UART_THR
    mov bx, 8
.line:
    mov cx, 63
    mov al, '='
.char:
    out dx, al
    loop .char
    mov al, 10
    out dx, al
    dec bx
    jnz .line
    mov al, 'a'
    out dx, al                  ; coalesced where the host can
    ; Loopback: the zone goes away (MCR.LOOP); the byte comes back in the receive FIFO.
    mov dx, COM1 + 4            ; MCR
    mov al, 0x10
    out dx, al
    mov dx, COM1 + UART_THR
    mov al, 'L'
    out dx, al
    mov dx, COM1 + UART_RBR
    in al, dx
    call putc                   ; 'L', after 'a'
    mov dx, COM1 + 4
    xor al, al
    out dx, al                  ; loopback off: THR may be coalesced again
    mov al, ' '
    mov dx, COM1 + UART_THR
    out dx, al
    ; DLAB: a write to 0x3F8 is the divisor's low byte, not a byte to send.
    mov dx, COM1 + 3            ; LCR
    mov al, 0x80
    out dx, al
    mov dx, COM1 + UART_THR
    mov al, 0x0C
    out dx, al                  ; DLL (in the ring, applied under DLAB)
    mov dx, COM1 + 3
    mov al, 0x03
    out dx, al                  ; DLAB off
    mov al, 0x83
    out dx, al                  ; DLAB on again, to read DLL back
    mov dx, COM1 + UART_RBR
    in al, dx
    mov bl, al
    mov dx, COM1 + 3
    mov al, 0x03
    out dx, al
    mov si, dll_text
    call puts
    mov al, bl
    call print_hex8
    mov dx, COM1 + UART_THR
    mov al, ' '
    out dx, al
    mov al, 'z'
    out dx, al
    mov al, 10
    out dx, al
    hlt

hc_putc_routine

%include "print16.inc"

dll_text: db "DLL=", 0
