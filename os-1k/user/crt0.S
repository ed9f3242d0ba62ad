/* crt0.S: a program's first instructions: main(argc, argv), then exit with what it returns.
 * The kernel starts it with RSP at argc, argv[] above it (System V ABI, AMD64, 3.4.1; exec.c). */
.section .text.start
.global _start
_start:
    movq (%rsp), %rdi        /* argc */
    leaq 8(%rsp), %rsi       /* argv */
    andq $-16, %rsp          /* the ABI wants RSP 16-byte aligned at a call (it is already) */
    call main
    movq %rax, %rdi
    movq $0, %rax            /* SYS_EXIT */
    int $0x80
1:  jmp 1b
