; carrier: polls MSR until the host's input ends (DCD drops), then prints that MSR: "MSR=38\n".
; mode: real
;
; 0x38 = CTS | DSR | DDCD: carrier detect is down, and its delta bit says it changed.
bits 16
org 0
%include "hypercall.inc"
.poll:
    mov dx, COM1 + UART_MSR
    in al, dx
    test al, MSR_DCD
    jnz .poll
    mov si, msr_text
    call puts
    call print_hex8
    mov al, 10
    call putc
    hc_exit

hc_putc_routine

%include "print16.inc"

msr_text: db "MSR=", 0
