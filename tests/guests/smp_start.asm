; smp_start: a Multiboot kernel that finds its CPUs in the MP table and starts each other CPU with INIT and STARTUP IPIs; its command line picks how it ends.
; mode: kernel
;
; 32-bit protected mode, paging off (as Multiboot starts it), so that the local APIC's page at
; 0xFEE00000 is one flat address away. The boot CPU:
;   1. follows the BIOS data area's word at 0x40E to the EBDA and the "_MP_" floating pointer
;      there, then reads the "PCMP" table's entries: it prints "cpu ID" for each processor
;      (" bsp" after the boot CPU's) and "ioapic ID at ADDRESS";
;   2. copies the trampoline to 0x7000 and, for each other CPU in turn, writes its number to a
;      mailbox and sends INIT, STARTUP 0x07, STARTUP 0x07 (Intel SDM Vol. 3A 8.4.4.1); the
;      new CPU starts in real mode at 0x7000, prints "ap N up" and sets the mailbox's flag,
;      which the boot CPU waits for before it starts the next;
;   3. ends as the command line says:
;        (none)     EXIT_STATUS 0 from the boot CPU (the others halted with interrupts off)
;        ap-exit    the last CPU started ends the run with EXIT_STATUS 7; the boot CPU spins
;        halt       every CPU halts with interrupts off: the machine is off
;        one-halts  the others halt with interrupts off; the boot CPU counts 100 PIT periods
;                   (about a second) and then ends with EXIT_STATUS 3
;        park-all   the boot CPU sends the others INIT again (they wait for a STARTUP that
;                   never comes), then halts with interrupts off: nothing can ever run
;                   again, yet no CPU is halted for good: a hung guest, for --timeout
%include "hypercall.inc"
bits 32
org 0x100000
MB_MAGIC equ 0x1BADB002
MB_FLAGS equ 0x00010000
ICR_LOW  equ 0xFEE00300
ICR_HIGH equ 0xFEE00310
TRAMPOLINE equ 0x7000
MAILBOX  equ 0x7F00                 ; dword: the number of the CPU being started
FLAG     equ 0x7F04                 ; dword: set to that number once it is up
HALT_AP  equ 0x7F08                 ; dword: 1 = halt after saying so, 2 = EXIT_STATUS 7

header:
    dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
    dd header, 0x100000, 0, 0, entry

entry:
    cli
    mov esp, 0x90000
    mov [info], ebx
    movzx eax, word [0x40E]         ; the EBDA's segment
    shl eax, 4
    cmp dword [eax], '_MP_'
    jne no_table
    mov esi, [eax + 4]              ; the configuration table
    cmp dword [esi], 'PCMP'
    jne no_table
    movzx ecx, word [esi + 34]      ; entry count
    add esi, 44
.entry:
    movzx eax, byte [esi]
    cmp al, 0
    je .processor
    cmp al, 2
    je .ioapic
    add esi, 8                      ; bus, I/O and local interrupt entries: 8 bytes
    jmp .next
.processor:
    inc dword [cpus]
    mov ebx, s_cpu
    call puts
    movzx eax, byte [esi + 1]
    call put_dec
    test byte [esi + 3], 2          ; the bootstrap processor's flag
    jz .not_bsp
    mov ebx, s_bsp
    call puts
.not_bsp:
    call newline
    add esi, 20
    jmp .next
.ioapic:
    mov ebx, s_ioapic
    call puts
    movzx eax, byte [esi + 1]
    call put_dec
    mov ebx, s_at
    call puts
    mov eax, [esi + 4]
    call put_hex
    call newline
    add esi, 8
.next:
    loop .entry

    mov dword [HALT_AP], 1          ; the command line decides how the others end
    mov ebx, arg_ap_exit
    call cmdline_is
    jne .copy
    mov dword [HALT_AP], 2
.copy:
    mov eax, [cpus]                 ; the trampoline's own copy of the count
    mov [cpus_copy], eax
    mov esi, trampoline             ; the trampoline, to where a STARTUP vector can point
    mov edi, TRAMPOLINE
    mov ecx, trampoline_end - trampoline
    rep movsb
    mov ebx, 1
.start_next:
    cmp ebx, [cpus]
    jae .all_up
    mov [MAILBOX], ebx
    mov dword [FLAG], 0
    mov eax, ebx
    shl eax, 24
    mov [ICR_HIGH], eax
    mov dword [ICR_LOW], 0x4500     ; INIT, level assert
    mov dword [ICR_LOW], 0x4600 | (TRAMPOLINE >> 12)
    mov dword [ICR_LOW], 0x4600 | (TRAMPOLINE >> 12)
.wait:
    pause
    cmp [FLAG], ebx
    jne .wait
    inc ebx
    jmp .start_next
.all_up:
    mov ebx, arg_ap_exit
    call cmdline_is
    je spin
    mov ebx, arg_halt
    call cmdline_is
    je halt
    mov ebx, arg_one_halts
    call cmdline_is
    je count_pit
    mov ebx, arg_park_all
    call cmdline_is
    je park_all
    hc_exit_status 0

spin:
    pause
    jmp spin
halt:
    cli
    hlt
    jmp halt
park_all:
    mov ebx, 1
.next:
    cmp ebx, [cpus]
    jae halt
    mov eax, ebx
    shl eax, 24
    mov [ICR_HIGH], eax
    mov dword [ICR_LOW], 0x4500     ; INIT: back to waiting for a STARTUP
    inc ebx
    jmp .next

; 100 periods of PIT channel 0 in mode 2 (rate generator) with a count of 11932: 10 ms each at
; 1.193182 MHz, a second in all, several of mini-kvm's halt checks.
count_pit:
    mov al, 0x34                    ; channel 0, low then high byte, mode 2
    out 0x43, al
    mov ax, 11932
    out 0x40, al
    mov al, ah
    out 0x40, al
    xor ecx, ecx                    ; periods seen
    mov edx, 0xFFFF                 ; the last count read
.read:
    mov al, 0x00                    ; latch channel 0
    out 0x43, al
    in al, 0x40
    mov ah, al
    in al, 0x40
    xchg al, ah                     ; AX = the count, counting down
    movzx eax, ax
    cmp eax, edx
    mov edx, eax
    jbe .read                       ; still counting down: the same period
    inc ecx                         ; it went up: the counter reloaded
    cmp ecx, 100
    jb .read
    mov ebx, s_bsp_done
    call puts
    hc_exit_status 3

no_table:
    mov ebx, s_no_table
    call puts
    hc_exit_status 1

; Is the command line (Multiboot info flags bit 2, cmdline at +16) the string at EBX? ZF set if
; so. Clobbers EAX, ECX, ESI, EDI.
cmdline_is:
    mov esi, [info]
    test dword [esi], 4
    jz .no
    mov esi, [esi + 16]
    mov edi, ebx
.cmp:
    mov al, [esi]
    cmp al, [edi]
    jne .no
    test al, al
    jz .yes
    inc esi
    inc edi
    jmp .cmp
.yes:
    cmp eax, eax
    ret
.no:
    or esi, 1                       ; clears ZF (ESI is never 0 here)
    ret

; puts: the NUL-terminated string at EBX. Clobbers EAX, EBX, EDX.
puts:
    push ecx
    mov ecx, ebx
.loop:
    mov bl, [ecx]
    test bl, bl
    jz .done
    mov al, HC_PUTCHAR
    mov dx, HC_PORT
    out dx, al
    inc ecx
    jmp .loop
.done:
    pop ecx
    ret
newline:
    mov ebx, s_newline
    jmp puts
; put_dec: EAX (below 100) in decimal.
put_dec:
    push ecx
    mov ecx, 10
    xor edx, edx
    div ecx
    test eax, eax
    jz .ones
    lea ebx, [eax + '0']
    mov al, HC_PUTCHAR
    push edx
    mov dx, HC_PORT
    out dx, al
    pop edx
.ones:
    lea ebx, [edx + '0']
    mov al, HC_PUTCHAR
    mov dx, HC_PORT
    out dx, al
    pop ecx
    ret
; put_hex: EAX as 0x and eight hex digits.
put_hex:
    push ecx
    push eax
    mov ebx, s_0x
    call puts
    pop eax
    mov ecx, 8
.digit:
    rol eax, 4
    push eax
    and eax, 0xF
    mov bl, [hex + eax]
    mov al, HC_PUTCHAR
    mov dx, HC_PORT
    out dx, al
    pop eax
    loop .digit
    pop ecx
    ret

; The other CPUs start here, in real mode at 0700:0000 (copied to TRAMPOLINE).
bits 16
trampoline:
    mov ax, 0
    mov ds, ax
    mov ebx, ap_up - trampoline + TRAMPOLINE
    mov si, bx
.say:
    mov bl, [si]
    test bl, bl
    jz .number
    mov al, HC_PUTCHAR
    mov dx, HC_PORT
    out dx, al
    inc si
    jmp .say
.number:
    mov bl, [MAILBOX]
    add bl, '0'
    mov al, HC_PUTCHAR
    out dx, al
    mov si, ap_up_end - trampoline + TRAMPOLINE
.say2:
    mov bl, [si]
    test bl, bl
    jz .done
    mov al, HC_PUTCHAR
    out dx, al
    inc si
    jmp .say2
.done:
    mov eax, [MAILBOX]
    cmp dword [HALT_AP], 2
    jne .up
    mov ecx, eax
    inc ecx
    cmp ecx, [cpus_copy - trampoline + TRAMPOLINE]
    jne .up
    hc_exit_status 7                ; the last CPU ends the run
.up:
    mov [FLAG], eax
.halt:
    cli
    hlt
    jmp .halt
ap_up: db "ap ", 0
ap_up_end: db " up", 10, 0
cpus_copy: dd 0
trampoline_end:
bits 32

info: dd 0
cpus: dd 0
hex: db "0123456789abcdef"
s_cpu: db "cpu ", 0
s_bsp: db " bsp", 0
s_ioapic: db "ioapic ", 0
s_at: db " at ", 0
s_0x: db "0x", 0
s_newline: db 10, 0
s_no_table: db "no MP table", 10, 0
s_bsp_done: db "bsp done", 10, 0
arg_ap_exit: db "ap-exit", 0
arg_halt: db "halt", 0
arg_one_halts: db "one-halts", 0
arg_park_all: db "park-all", 0
