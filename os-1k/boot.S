/*
 * boot.S: from the Multiboot loader's 32-bit protected mode to 64-bit C in the higher half.
 *
 * References: Multiboot Specification 0.6.96, 3.1 (the header) and 3.2 (the machine state at
 * entry: EAX = 0x2BADB002, EBX = the information structure, paging off, interrupts off);
 * Intel SDM Vol. 3A, 10.8.5 "Initializing IA-32e Mode" and 4.5 "4-Level Paging".
 *
 * Long mode needs paging, so before C can run we build the smallest page tables that work:
 * one PD of 512 2 MiB pages maps physical 0-1 GiB, reached twice from the PML4: at virtual 0
 * (identity, so the instruction after "paging on" still exists) and at 0xFFFFFFFF80000000,
 * where the kernel is linked (kernel.ld). The tables are in .bss, which the loader zeroes.
 */
#define KERNBASE 0xFFFFFFFF80000000
#define MB_MAGIC 0x1BADB002
/* Page-align modules, give us the memory map, and (bit 16) take the load addresses from this
 * header (the "a.out kludge", spec 3.1.3): the boot image is the kernel as a flat binary, so
 * a loader copies it to load_addr as it is and needs no ELF parser. */
#define MB_FLAGS 0x00010003

.section .multiboot, "a"
.align 4
multiboot_header:
    .long MB_MAGIC
    .long MB_FLAGS
    .long -(MB_MAGIC + MB_FLAGS)     /* magic + flags + checksum = 0 */
    .long multiboot_header           /* header_addr: where this header lands */
    .long 0x100000                   /* load_addr: the file's first byte goes here */
    .long load_end                   /* load_end_addr: the end of .data (kernel.ld) */
    .long bss_end                    /* bss_end_addr: the loader zeroes up to here */
    .long _start                     /* entry_addr */

.section .boot, "ax"
.code32
.global _start
_start:
    cli
    movl %eax, %edi                  /* kernel_main(magic, info): SysV args in RDI, RSI */
    movl %ebx, %esi
/* [tour:boot-tables] */
    /* PML4[0] and PML4[511] -> PDPT; PDPT[0] and PDPT[510] -> PD. */
    movl $(boot_pdpt - KERNBASE + 0x3), %eax     /* present | writable */
    movl %eax, (boot_pml4 - KERNBASE)
    movl %eax, (boot_pml4 - KERNBASE + 511 * 8)
    movl $(boot_pd - KERNBASE + 0x3), %eax
    movl %eax, (boot_pdpt - KERNBASE)
    movl %eax, (boot_pdpt - KERNBASE + 510 * 8)

    /* PD[i] = i * 2 MiB | present | writable | page size: 0-1 GiB. */
    movl $(boot_pd - KERNBASE), %ebx
    movl $0x83, %eax
    movl $512, %ecx
1:  movl %eax, (%ebx)
    addl $0x200000, %eax
    addl $8, %ebx
    loop 1b
/* [/tour:boot-tables] [tour:enter-long-mode] */
    movl %cr4, %eax
    orl $0x20, %eax                  /* CR4.PAE: 64-bit page-table entries */
    movl %eax, %cr4
    movl $(boot_pml4 - KERNBASE), %eax
    movl %eax, %cr3
    movl $0xC0000080, %ecx           /* IA32_EFER */
    rdmsr
    orl $0x100, %eax                 /* EFER.LME: long mode, once paging is on */
    wrmsr
    movl %cr0, %eax
    orl $0x80010001, %eax            /* CR0.PG | CR0.WP | CR0.PE */
    movl %eax, %cr0                  /* now in IA-32e compatibility mode */

    lgdt boot_gdt_ptr
    ljmp $0x08, $long_mode           /* a 64-bit code segment: now in 64-bit mode */
/* [/tour:enter-long-mode] */
.code64
long_mode:
    movabs $higher_half, %rax        /* leave the identity mapping for the linked address */
    jmp *%rax

.align 8
boot_gdt:
    .quad 0
    .quad 0x00AF9A000000FFFF         /* 0x08: 64-bit code (L = 1) */
    .quad 0x00CF92000000FFFF         /* 0x10: data */
boot_gdt_ptr:
    .word boot_gdt_ptr - boot_gdt - 1
    .long boot_gdt

.text
higher_half:
    movq $boot_stack_top, %rsp
    movl $0x10, %eax
    movl %eax, %ds
    movl %eax, %es
    movl %eax, %ss
    movl %edi, %edi                  /* the upper halves are undefined after the mode switch */
    movl %esi, %esi
    xorl %ebp, %ebp
    call kernel_main                 /* does not return */
2:  hlt
    jmp 2b

.bss
.align 4096
.global boot_pml4
boot_pml4:  .space 4096
boot_pdpt:  .space 4096
boot_pd:    .space 4096
.align 16
.global boot_stack_top
boot_stack: .space 16384             /* kernel_main, then the idle process, run here */
boot_stack_top:
