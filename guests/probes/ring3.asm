; ring3: times a loop in ring 0 and in ring 3, then makes `int 0x80` from ring 3.
; mode: long
;
; Markers (port exits the host timestamps): 0x82/0x83 around 10,000 iterations in ring 0,
; 0x80 before entering ring 3 and 0x81 when its 100,000 iterations end in a trap. The trap is
; the `int 0x80` itself: delivered through the DPL-3 gate (EXIT_STATUS 0x80) or raised as #UD
; (EXIT_STATUS 6), as some KVMs do. #GP ends with EXIT_STATUS 13.
bits 64
org 0x1000
%include "hypercall.inc"
GDT  equ 0x8000
IDT  equ 0x9000
TSS  equ 0xA000
PML4 equ 0x3FC000                   ; the VMM's tables (src/boot/longmode.rs)
start:
    ; Ring 0 timing.
    out 0x82, al
    mov ecx, 10000
.r0: dec ecx
    jnz .r0
    out 0x83, al
    ; GDT: null, kernel code, kernel data, user data, user code, TSS (16 bytes).
    mov rdi, GDT
    mov qword [rdi], 0
    mov rax, 0x00AF9A000000FFFF
    mov [rdi + 8], rax
    mov rax, 0x00CF92000000FFFF
    mov [rdi + 16], rax
    mov rax, 0x00CFF2000000FFFF
    mov [rdi + 24], rax
    mov rax, 0x00AFFA000000FFFF
    mov [rdi + 32], rax
    mov rax, TSS                    ; TSS descriptor: base 0xA000, limit 103, type 0x89
    shl rax, 16
    or rax, 103
    mov rbx, 0x89
    shl rbx, 40
    or rax, rbx
    mov [rdi + 40], rax
    mov qword [rdi + 48], 0
    mov qword [TSS + 4], 0x200000   ; RSP0: ring-3 traps land on this stack
    mov word [TSS + 102], 104       ; no I/O bitmap
    lgdt [rel gdt_pointer]
    mov ax, 0x28
    ltr ax
    ; IDT: #UD, #GP and 0x80 (DPL 3).
    lea rax, [rel on_ud]
    mov edi, 6
    mov ebx, 0x8E00
    call set_gate
    lea rax, [rel on_gp]
    mov edi, 13
    call set_gate
    lea rax, [rel on_int80]
    mov edi, 0x80
    mov ebx, 0xEE00
    call set_gate
    lidt [rel idt_pointer]
    ; Let ring 3 use the first 4 MiB: set U/S in PML4[0], PDPT[0], PD[0..1].
    or qword [PML4], 4
    or qword [PML4 + 0x1000], 4
    or qword [PML4 + 0x2000], 4
    or qword [PML4 + 0x2008], 4
    mov rax, cr3
    mov cr3, rax
    ; iretq into ring 3: SS, RSP, RFLAGS, CS, RIP.
    out 0x80, al
    push 0x18 | 3
    push 0x300000
    push 0x2
    push 0x20 | 3
    lea rax, [rel user]
    push rax
    iretq
user:
    mov ecx, 100000
.r3: dec ecx
    jnz .r3
    int 0x80
    jmp $
on_ud:
    out 0x81, al
    hc_exit_status 6
on_gp:
    out 0x81, al
    hc_exit_status 13
on_int80:
    out 0x81, al
    hc_exit_status 0x80
; set_gate: IDT entry EDI -> handler RAX, type/attributes BX (0x8E00 or 0xEE00).
set_gate:
    shl rdi, 4
    add rdi, IDT
    mov [rdi], ax
    mov word [rdi + 2], 0x08
    mov [rdi + 4], bx
    shr rax, 16
    mov [rdi + 6], ax
    shr rax, 16
    mov [rdi + 8], eax
    mov dword [rdi + 12], 0
    ret
gdt_pointer:
    dw 7 * 8 - 1
    dq GDT
idt_pointer:
    dw 256 * 16 - 1
    dq IDT
