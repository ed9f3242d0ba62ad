; paged32: a 32-bit kernel run with paging on, in the C VMM's --paging layout.
; mode: real
; (The mode line is for build.rs; run it with `mini-kvm --paging`.) mini-kvm loads it at
; physical 0x1000 and enters it at EIP 0x80001000 with CR0.PG set and a page directory that
; maps both 0-4 MiB and 0x80000000-0x803FFFFF onto the first 4 MiB. It prints where it runs,
; CR0, and proves the two mappings reach one frame; on a KVM that drops CR0.PG mini-kvm
; refuses to start it (status 4) instead.
bits 32
org 0x80001000
%include "hypercall.inc"
start:
    mov esp, 0x80010000     ; a stack in the high mapping (physical 0x10000)
    call .here
.here:
    pop ebx                 ; EBX = the linear address of .here
    mov esi, msg_eip
    call puts
    mov eax, ebx
    call print_hex
    mov esi, msg_cr0
    call puts
    mov eax, cr0
    call print_hex
    ; Write through the high mapping, read through the identity mapping.
    mov dword [0x80003000], 0x1234abcd
    mov eax, [0x3000]
    cmp eax, 0x1234abcd
    jne .different
    mov esi, msg_same
    call puts
    hc_exit
.different:
    mov esi, msg_differ
    call puts
    hc_exit_status 1

; puts: print the NUL-terminated string at ESI.
puts:
    lodsb
    test al, al
    jz .done
    call putc
    jmp puts
.done:
    ret

; print_hex: print EAX as 0x followed by 8 hex digits.
print_hex:
    push eax
    mov al, '0'
    call putc
    mov al, 'x'
    call putc
    pop eax
    mov ecx, 8
.digit:
    rol eax, 4
    push eax
    and al, 0x0F
    add al, '0'
    cmp al, '9'
    jbe .print
    add al, 'a' - '9' - 1
.print:
    call putc
    pop eax
    loop .digit
    ret

putc:
    push eax
    push ebx
    push edx
    hc_putchar al
    pop edx
    pop ebx
    pop eax
    ret

msg_eip:    db "32-bit paged kernel: EIP ", 0
msg_cr0:    db ", CR0 ", 0
msg_same:   db 10, "0x80003000 and 0x3000 reach the same frame", 10, 0
msg_differ: db 10, "0x80003000 and 0x3000 reach different frames", 10, 0
