; echo: echoes its input through GETCHAR and PUTCHAR until `q` or the end of input.
; mode: real
;
; What it teaches: input through the hypercall port. GETCHAR is two port accesses: an `out`
; asks for a byte, the following `in` collects it. 0xFF means "nothing typed yet, ask again";
; 0x04 (EOT, what Ctrl-D sends) means input has ended, so piped runs finish by themselves
; instead of polling forever. (A real 0xFF input byte cannot be told from "nothing yet": the
; seed's ABI, kept so its guests run unchanged.) On a terminal, Enter sends CR and Backspace
; sends DEL, so those two are echoed as a terminal expects: CR LF, and "\b \b" to erase.
bits 16
org 0
%include "hypercall.inc"

start:
.next:
    hc_getchar              ; AL = byte, HC_NOTHING_YET or HC_END_OF_INPUT
    cmp al, HC_NOTHING_YET
    je .next
    cmp al, HC_END_OF_INPUT
    je .done
    cmp al, 'q'
    je .done
    cmp al, 13              ; CR (Enter): a new line, not back to the start of this one
    je .newline
    cmp al, 0x7F            ; DEL (Backspace): erase the last character on the screen
    je .erase
    hc_putchar al
    jmp .next
.newline:
    hc_putchar 13
    hc_putchar 10
    jmp .next
.erase:
    hc_putchar 8
    hc_putchar ' '
    hc_putchar 8
    jmp .next
.done:
    hc_exit
