; hello: prints "Hello, KVM!" through the PUTCHAR hypercall, then halts.
; mode: real
;
; What it teaches: the hypercall port. Each `out dx, al` to port 0x500 is a VM exit
; (KVM_EXIT_IO): KVM stops the guest, mini-kvm reads AL (the call: 1 = PUTCHAR) and BL (the
; byte) from the vCPU's registers, prints the byte and resumes the guest. 12 characters, 12
; exits, then KVM_EXIT_HLT. `mini-kvm --trace hello` shows each one.
bits 16
org 0
%include "hypercall.inc"

start:
    mov si, message
.next:
    mov bl, [si]            ; DS = CS here: the data sits right after the code
    test bl, bl
    jz .done
    mov al, HC_PUTCHAR
    mov dx, HC_PORT
    out dx, al              ; VM exit: mini-kvm prints BL
    inc si
    jmp .next
.done:
    hlt

message: db "Hello, KVM!", 10, 0
