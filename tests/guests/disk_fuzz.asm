; disk_fuzz: the hostile driver of the virtqueue fuzzer (tests/hostile.rs): it sets the disk up and drives it from a script appended to this file.
; mode: kernel
;
; The fuzzer appends a script at `blob` (the end of this file, a 4 KiB boundary, so its
; address is 0x100000 plus this file's length) and runs the result with a --disk:
;
;   blob + 0    u32 QueueNum, u32 DriverFeatures (bits 0-31), u32 (bits 32-63), u32 rounds
;   blob + 16   u64 QueueDesc, u64 QueueDriver, u64 QueueDevice, u32 QueueReady
;   blob + 64   64 rounds of 16 bytes: u32 offset, u16 value (stored at arena + offset),
;               u16 QueueNotify value, u32 spins, u32 flags (1: set the device up again
;               first, 2: flip arena bytes while spinning, 4: write InterruptACK after)
;   blob + 4096 the arena, 64 KiB: whatever the fuzzer lays out (rings, chains, headers)
;
; Everything it writes to the device comes from the script, unchecked: mini-kvm must survive
; any of it. The guest itself may not (the device may write over its code): any ending is
; fine as long as it is one of mini-kvm's.
%include "hypercall.inc"
%include "multiboot64.inc"

VIRTIO_BASE     equ 0xD0000000
ARENA_SIZE      equ 0x10000

main:
    mov rbx, VIRTIO_BASE
    call setup
    xor r12d, r12d                      ; the round
.round:
    mov eax, [blob + 12]
    and eax, 63
    cmp r12d, eax
    jae .done
    mov r13, r12
    shl r13, 4
    add r13, blob + 64                  ; this round's record
    test dword [r13 + 12], 1
    jz .poke
    call setup
.poke:
    mov eax, [r13]
    and eax, ARENA_SIZE - 2
    mov cx, [r13 + 4]
    mov [blob + 4096 + rax], cx
    movzx eax, word [r13 + 6]
    mov [rbx + 0x050], eax              ; QueueNotify
    mov ecx, [r13 + 8]
    and ecx, 0x3FF
    jz .spun
.spin:
    test dword [r13 + 12], 2
    jz .pause
    mov eax, ecx                        ; another vCPU would rewrite what the device reads
    imul eax, eax, 97
    and eax, ARENA_SIZE - 1
    xor byte [blob + 4096 + rax], 0x5A
.pause:
    pause
    loop .spin
.spun:
    test dword [r13 + 12], 4
    jz .next
    mov dword [rbx + 0x064], 3          ; InterruptACK
.next:
    inc r12d
    jmp .round
.done:
    hc_exit_status 0

; setup: reset, ACKNOWLEDGE, DRIVER, the script's features, FEATURES_OK, queue 0 as the
; script says, DRIVER_OK; nothing is checked.
setup:
    mov dword [rbx + 0x070], 0
    mov dword [rbx + 0x070], 1
    mov dword [rbx + 0x070], 3
    mov dword [rbx + 0x024], 0
    mov eax, [blob + 4]
    mov [rbx + 0x020], eax
    mov dword [rbx + 0x024], 1
    mov eax, [blob + 8]
    mov [rbx + 0x020], eax
    mov dword [rbx + 0x070], 11
    mov dword [rbx + 0x030], 0
    mov eax, [blob + 0]
    mov [rbx + 0x038], eax
    mov eax, [blob + 16]
    mov [rbx + 0x080], eax
    mov eax, [blob + 20]
    mov [rbx + 0x084], eax
    mov eax, [blob + 24]
    mov [rbx + 0x090], eax
    mov eax, [blob + 28]
    mov [rbx + 0x094], eax
    mov eax, [blob + 32]
    mov [rbx + 0x0a0], eax
    mov eax, [blob + 36]
    mov [rbx + 0x0a4], eax
    mov eax, [blob + 40]
    mov [rbx + 0x044], eax
    mov dword [rbx + 0x070], 15
    ret

align 4096
blob:
