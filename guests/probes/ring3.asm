; ring3: times a loop in ring 0 and in ring 3, and how `int 0x80` from ring 3 arrives.
; mode: long
;
; Markers (port exits the host timestamps): 0x82 before and after each of 10 rounds of 10,000
; iterations in ring 0; 0x80 before entering ring 3, then 0x81 in the kernel after each of 10
; rounds of 100,000 iterations in ring 3, each ended by an `int 0x80`. The host takes the
; fastest round of each, so a host thread preempted during one round does not make native code
; look emulated. The `int 0x80` arrives through the DPL-3 gate (EXIT_STATUS 0x80 after the
; last round) or as #UD at the instruction (EXIT_STATUS 6), as some KVMs do; #GP: status 13.
bits 64
org 0x1000
%include "hypercall.inc"
%include "ring3.inc"
ROUNDS equ 10
start:
    mov edx, ROUNDS
.round0:
    out 0x82, al
    mov ecx, 10000
.r0: dec ecx
    jnz .r0
    dec edx
    jnz .round0
    out 0x82, al
    call ring3_setup
    out 0x80, al
    enter_ring3 user
user:
    mov ecx, 100000
.r3: dec ecx
    jnz .r3
    int 0x80                        ; 2 bytes: CD 80
    jmp user
on_ud:                              ; the `int` raised #UD: resume after it, as a kernel would
    add qword [rsp], 2
    mov bl, 6
    jmp round_done
on_int80:
    mov bl, 0x80
round_done:
    out 0x81, al
    inc byte [rel rounds]
    cmp byte [rel rounds], ROUNDS
    je .last
    iretq
.last:
    mov al, HC_EXIT_STATUS
    mov dx, HC_PORT
    out dx, al
on_gp:
    hc_exit_status 13
rounds: db 0
    ring3_routines
