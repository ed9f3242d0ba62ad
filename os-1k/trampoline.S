/*
 * trampoline.S: where every other CPU starts: from real mode to 64-bit mode, in one page.
 *
 * References: Intel SDM Vol. 3A, 9.4.4.1 (a CPU woken by a startup IPI starts in real mode at
 * the IPI's vector times 4096: CS = vector << 8, IP = 0), 9.9.1 "Switching to Protected Mode",
 * 10.8.5 "Initializing IA-32e Mode"; Intel MultiProcessor Specification 1.4, B.4.
 *
 * mp.c copies these bytes to TRAMPOLINE (0x7000: below 1 MiB and on a page boundary, as a
 * startup IPI needs), fills the four words at their end, and sends INIT, SIPI, SIPI with
 * vector 7. The code is assembled here but runs there, with no relocation: every address in
 * it is T(label), the label's address once copied. It makes the same three steps boot.S makes
 * (protected mode, then paging and long mode, then a 64-bit segment), from one step earlier,
 * and with the kernel's own page tables, into which mp.c puts the identity map back while the
 * CPUs start.
 */
#define TRAMPOLINE 0x7000
#define T(label) (TRAMPOLINE + (label) - trampoline_start)

.section .rodata
.global trampoline_start, trampoline_args, trampoline_end
.code16
trampoline_start:
    cli
    xorw %ax, %ax
    movw %ax, %ds                    /* DS = 0: T(...) addresses are physical */
    lgdtl T(trampoline_gdt_ptr)
    movl %cr0, %eax
    orl $1, %eax                     /* CR0.PE: protected mode */
    movl %eax, %cr0
    ljmpl $0x08, $T(start32)         /* a 32-bit code segment */
.code32
start32:
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %cr4, %eax
    orl $0x20, %eax                  /* CR4.PAE */
    movl %eax, %cr4
    movl T(trampoline_args), %eax    /* args.cr3: the kernel's PML4 */
    movl %eax, %cr3
    movl $0xC0000080, %ecx           /* IA32_EFER.LME */
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80010001, %eax            /* CR0.PG | CR0.WP | CR0.PE: IA-32e compatibility mode */
    movl %eax, %cr0
    ljmp $0x18, $T(start64)          /* a 64-bit code segment: 64-bit mode */
.code64
start64:
    movq T(trampoline_args) + 8, %rsp    /* args.stack: its idle process's kernel stack */
    movq T(trampoline_args) + 16, %rdi   /* args.cpu: its struct cpu, ap_main's argument */
    movq T(trampoline_args) + 24, %rax   /* args.entry: ap_main, in the higher half */
    xorl %ebp, %ebp
    call *%rax                           /* does not return */
1:  hlt
    jmp 1b

.align 8
trampoline_gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF         /* 0x08: 32-bit code */
    .quad 0x00CF92000000FFFF         /* 0x10: data */
    .quad 0x00AF9A000000FFFF         /* 0x18: 64-bit code (L = 1) */
trampoline_gdt_ptr:
    .word trampoline_gdt_ptr - trampoline_gdt - 1
    .long T(trampoline_gdt)
.align 8
trampoline_args:                     /* mp.c's struct trampoline_args */
    .quad 0, 0, 0, 0                 /* cr3, stack, cpu, entry */
trampoline_end:
