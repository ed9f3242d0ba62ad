; io_sizes: port I/O of 1, 2 and 4 bytes and a string `rep outsb`, printing what it reads back.
; mode: real
;
; Expected output: "rep outsb\n" (through THR, count 10), then "SCR=5A" (`out dx, ax` of 0x7F5A
; to SCR at 0x3FF: the low byte lands in SCR, the high byte on port 0x400, nobody's), then
; " unused=FFFF" (`in ax` from port 0x1234 floats high) and " dword=FFFFFFFF\n".
bits 16
org 0
%include "hypercall.inc"
    mov si, message
    mov cx, message_end - message
    mov dx, COM1 + UART_THR
    cld
    rep outsb               ; one KVM_EXIT_IO with count 10
    mov dx, COM1 + UART_SCR
    mov ax, 0x7F5A
    out dx, ax              ; 16-bit write to an 8-bit device
    in al, dx
    mov si, scr_text
    call puts
    call print_hex8
    mov si, unused_text
    call puts
    mov dx, 0x1234
    in ax, dx
    push ax
    mov al, ah
    call print_hex8
    pop ax
    call print_hex8
    mov si, dword_text
    call puts
    in eax, dx
    mov cx, 4
.dword:
    rol eax, 8
    call print_hex8
    loop .dword
    mov al, 10
    call putc
    hc_exit

hc_putc_routine

%include "print16.inc"

message: db "rep outsb", 10
message_end:
scr_text: db "SCR=", 0
unused_text: db " unused=", 0
dword_text: db " dword=", 0
