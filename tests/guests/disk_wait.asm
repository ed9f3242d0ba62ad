; disk_wait: a Multiboot kernel that prints "ready" and runs until its input ends (holding its --disk meanwhile).
; mode: kernel
%include "hypercall.inc"
%include "multiboot64.inc"

main:
    hc_putchar 'r'
    hc_putchar 'e'
    hc_putchar 'a'
    hc_putchar 'd'
    hc_putchar 'y'
    hc_putchar 10
.wait:
    hc_getchar
    cmp al, HC_END_OF_INPUT
    jne .wait
    hc_exit_status 0
