; lab_unclaimed: the guest of lab 5 (docs/labs/05-trace-class.md), three unclaimed accesses.
; mode: real
; It prints "ok" and a newline through the hypercall port; in between it reads the CMOS RTC's
; index port, writes the POST diagnostic port and reads guest-physical 0xFFFF0, where no RAM
; is. mini-kvm has none of those devices: the reads return all ones, the write is dropped.
bits 16
org 0
%include "hypercall.inc"
    in al, 0x70                  ; CMOS RTC: no device
    out 0x80, al                 ; POST diagnostic: no device
    hc_putchar 'o'
    mov ax, 0xF000
    mov es, ax
    mov al, [es:0xFFF0]          ; KVM_EXIT_MMIO read: no RAM behind it
    hc_putchar 'k'
    hc_putchar 10
    hc_exit
