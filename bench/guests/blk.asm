; blk: a Multiboot kernel that reads its --disk through virtio-blk, REQUESTS requests of 4 KiB
; (nasm -DREQUESTS=n; 10,000 without it), one at a time, each waited for with hlt until its
; interrupt: every request is a notify (KVM_IOEVENTFD), the device's work, an interrupt
; (KVM_IRQFD) and the handler's two MMIO exits (InterruptStatus, InterruptACK). Then it exits
; with status 0 (1: a request failed, 2: no device). `make bench` times it with REQUESTS=0 too:
; the difference is what the requests cost.
%include "hypercall.inc"
%include "multiboot64.inc"
%include "virtio_blk.inc"

%ifndef REQUESTS
%define REQUESTS 10000
%endif

main:
    call vblk_irq_setup
    call vblk_init
    jc .no_device
    mov r12d, REQUESTS
.request:
    test r12d, r12d
    jz .done
    mov edi, T_IN
    mov esi, r12d                       ; sectors 0, 8, ... 56: the image's first 32 KiB
    and esi, 7
    shl esi, 3
    mov rdx, DATA
    mov ecx, 4096
    mov r8d, 1
    call vblk_request
    test al, al
    jnz .failed
    dec r12d
    jmp .request
.done:
    hc_exit_status 0
.failed:
    hc_exit_status 1
.no_device:
    hc_exit_status 2
