; disk_fill: a Multiboot kernel that writes every sector of its --disk in order, one request per sector, polling the used ring.
; mode: kernel
;
; Sector n becomes 512 bytes of 'N' with n in its first 8 bytes (little-endian). Then it
; prints "filled N sectors". The crash test kills mini-kvm after the k-th request
; (MINI_KVM_TEST_KILL_AFTER_REQUESTS) and looks at what the image holds.
%include "hypercall.inc"
%include "multiboot64.inc"
%include "virtio_blk.inc"

main:
    call vblk_init
    jc .no_device
    mov [capacity], rax
    xor r12d, r12d                      ; the sector
.sector:
    cmp r12, [capacity]
    jae .done
    mov rdi, DATA
    mov al, 'N'
    mov ecx, 512
    rep stosb
    mov [DATA], r12
    mov edi, T_OUT
    mov rsi, r12
    mov rdx, DATA
    mov ecx, 512
    xor r8d, r8d
    call vblk_request
    test al, al
    jnz .failed
    inc r12
    jmp .sector
.done:
    lea rsi, [rel s_filled]
    call puts
    mov rax, [capacity]
    call print_dec
    lea rsi, [rel s_sectors]
    call puts
    hc_exit_status 0
.failed:
    lea rsi, [rel s_failed]
    call puts
    hc_exit_status 8
.no_device:
    lea rsi, [rel s_no_device]
    call puts
    hc_exit_status 9

s_filled:       db "filled ", 0
s_sectors:      db " sectors", 10, 0
s_failed:       db "a write failed", 10, 0
s_no_device:    db "no virtio-blk device", 10, 0
align 8
capacity:       dq 0
