/* crt0.S: a program's first instructions: call main(arg), then exit with its return value. */
.section .text.start
.global _start
_start:
    andq $-16, %rsp          /* the ABI wants RSP 16-byte aligned at a call */
    call main                /* RDI already holds the argument string (kernel: proc_spawn) */
    movq %rax, %rdi
    movq $0, %rax            /* SYS_EXIT */
    int $0x80
1:  jmp 1b
