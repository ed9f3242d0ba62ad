; echo: echoes its input through GETCHAR and PUTCHAR until `q` or the end of input.
; mode: real
;
; What it teaches: input through the hypercall port. GETCHAR is two port accesses: an `out`
; asks for a byte, the following `in` collects it. 0xFF means "nothing typed yet, ask again";
; 0x04 (EOT, what Ctrl-D sends) means input has ended, so piped runs finish by themselves
; instead of polling forever. (A real 0xFF input byte cannot be told from "nothing yet": the
; seed's ABI, kept so its guests run unchanged.)
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
    hc_putchar al
    jmp .next
.done:
    hc_exit
