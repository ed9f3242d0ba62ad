; disk_rw: a Multiboot kernel that reads, writes and flushes its --disk through virtio-blk, waiting for each interrupt, and prints every status.
; mode: kernel
;
; Line by line: the capacity; GET_ID; sector 0's first line; a write of sector 1 (512 bytes
; of "mini-kvm guest wrote sector 1" and dots) and the same sector read back and compared; a
; FLUSH; a read and a write at the sector just past the end; a read of 100 bytes (not whole
; sectors); request type 0x99; and how many interrupts it took (one per request). Statuses:
; 0 OK, 1 IOERR, 2 UNSUPP (virtio 1.2, 5.2.6).
%include "hypercall.inc"
%include "multiboot64.inc"
%include "virtio_blk.inc"

main:
    call vblk_irq_setup
    call vblk_init
    jc .no_device
    mov [capacity], rax
    lea rsi, [rel s_capacity]
    call puts
    mov rax, [capacity]
    call print_dec
    call newline

    mov rdi, DATA                       ; GET_ID: 20 bytes, NUL-padded
    xor eax, eax
    mov ecx, 32
    rep stosb
    lea r10, [rel s_id]
    mov edi, T_GET_ID
    xor esi, esi
    mov rdx, DATA
    mov ecx, 20
    mov r8d, 1
    call request_and_print
    call space
    mov rsi, DATA
    call puts
    call newline

    lea r10, [rel s_read0]              ; sector 0: its first line
    mov edi, T_IN
    xor esi, esi
    mov rdx, DATA
    mov ecx, 512
    mov r8d, 1
    call request_and_print
    call space
    mov rsi, DATA
.line:
    mov bl, [rsi]
    cmp bl, 10
    je .line_end
    test bl, bl
    jz .line_end
    hc_putchar bl
    inc rsi
    jmp .line
.line_end:
    call newline

    call fill_pattern                   ; sector 1: the pattern
    lea r10, [rel s_write1]
    mov edi, T_OUT
    mov esi, 1
    mov rdx, DATA
    mov ecx, 512
    xor r8d, r8d
    call request_and_print
    call newline

    mov rdi, DATA                       ; sector 1 back, compared with the pattern
    xor eax, eax
    mov ecx, 512
    rep stosb
    lea r10, [rel s_read1]
    mov edi, T_IN
    mov esi, 1
    mov rdx, DATA
    mov ecx, 512
    mov r8d, 1
    call request_and_print
    call space
    mov rsi, DATA
    lea rdi, [rel pattern]
    mov ecx, 512
    repe cmpsb
    lea rsi, [rel s_same]
    je .compared
    lea rsi, [rel s_different]
.compared:
    call puts

    lea r10, [rel s_flush]
    mov edi, T_FLUSH
    xor esi, esi
    xor ecx, ecx
    xor r8d, r8d
    call request_and_print
    call newline

    lea r10, [rel s_read_end]           ; the sector just past the end
    mov edi, T_IN
    mov rsi, [capacity]
    mov rdx, DATA
    mov ecx, 512
    mov r8d, 1
    call request_and_print
    call newline

    lea r10, [rel s_write_end]
    mov edi, T_OUT
    mov rsi, [capacity]
    mov rdx, DATA
    mov ecx, 512
    xor r8d, r8d
    call request_and_print
    call newline

    lea r10, [rel s_partial]            ; 100 bytes: not a whole sector
    mov edi, T_IN
    xor esi, esi
    mov rdx, DATA
    mov ecx, 100
    mov r8d, 1
    call request_and_print
    call newline

    lea r10, [rel s_unknown]
    mov edi, 0x99
    xor esi, esi
    mov rdx, DATA
    mov ecx, 512
    mov r8d, 1
    call request_and_print
    call newline

    lea rsi, [rel s_irqs]
    call puts
    mov eax, [vblk_irqs]
    call print_dec
    call newline
    hc_exit_status 0
.no_device:
    lea rsi, [rel s_no_device]
    call puts
    hc_exit_status 9

; request_and_print: prints the label at r10, makes the request (vblk_request's registers)
; and prints its status.
request_and_print:
    push rdi
    push rsi
    push rdx
    push rcx
    push r8
    mov rsi, r10
    call puts
    pop r8
    pop rcx
    pop rdx
    pop rsi
    pop rdi
    call vblk_request
    movzx eax, al
    jmp print_dec

space:
    mov bl, ' '
    jmp putc

newline:
    mov bl, 10
putc:
    mov al, HC_PUTCHAR
    mov dx, HC_PORT
    out dx, al
    ret

; fill_pattern: DATA and `pattern` = "mini-kvm guest wrote sector 1\n" then dots, 512 bytes.
fill_pattern:
    lea rdi, [rel pattern]
    mov al, '.'
    mov ecx, 512
    rep stosb
    lea rsi, [rel s_pattern]
    lea rdi, [rel pattern]
    mov ecx, s_pattern_len
    rep movsb
    lea rsi, [rel pattern]
    mov rdi, DATA
    mov ecx, 512
    rep movsb
    ret

s_capacity:     db "capacity ", 0
s_id:           db "id ", 0
s_read0:        db "read 0: ", 0
s_write1:       db "write 1: ", 0
s_read1:        db "read 1: ", 0
s_same:         db "same", 10, 0
s_different:    db "different", 10, 0
s_flush:        db "flush: ", 0
s_read_end:     db "read past the end: ", 0
s_write_end:    db "write past the end: ", 0
s_partial:      db "read of 100 bytes: ", 0
s_unknown:      db "type 0x99: ", 0
s_irqs:         db "interrupts: ", 0
s_no_device:    db "no virtio-blk device", 10, 0
s_pattern:      db "mini-kvm guest wrote sector 1", 10
s_pattern_len   equ $ - s_pattern
align 8
capacity:       dq 0
pattern:        times 512 db 0
