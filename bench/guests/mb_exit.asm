; mb_exit: the smallest Multiboot kernel: its entry sends the EXIT hypercall. Start-up of a
; kernel-sized VM (in-kernel irqchip and PIT, CPUID, --mem of RAM) from process start to exit.
bits 32
org 0x100000
MAGIC equ 0x1BADB002
FLAGS equ 1 << 16                   ; the address fields below say where to load
header:
    dd MAGIC, FLAGS, -(MAGIC + FLAGS)
    dd header, header, end, end, start
start:
    mov dx, 0x500
    xor eax, eax                    ; AL = 0: EXIT
    out dx, al
    hlt
end:
