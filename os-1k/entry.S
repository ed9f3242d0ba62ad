/*
 * entry.S: interrupt and exception entry, and the context switch.
 *
 * Reference: Intel SDM Vol. 3A, 6.14 "Exception and Interrupt Handling in 64-bit Mode": the
 * CPU pushes SS, RSP, RFLAGS, CS, RIP (and for some exceptions an error code), switching to
 * TSS.RSP0 first when the trap comes from ring 3. Each stub below makes the frame uniform
 * (a 0 error code where the CPU pushes none, then the vector number), and trap_common saves
 * the general registers so that C sees a struct trapframe (kernel.h).
 */
.text

.macro TRAP_NOERR n
.global trap\n
trap\n:
    pushq $0
    pushq $\n
    jmp trap_common
.endm

.macro TRAP_ERR n                     /* the CPU pushed an error code already */
.global trap\n
trap\n:
    pushq $\n
    jmp trap_common
.endm

TRAP_NOERR 0
TRAP_NOERR 1
TRAP_NOERR 2
TRAP_NOERR 3
TRAP_NOERR 4
TRAP_NOERR 5
TRAP_NOERR 6
TRAP_NOERR 7
TRAP_ERR   8
TRAP_NOERR 9
TRAP_ERR   10
TRAP_ERR   11
TRAP_ERR   12
TRAP_ERR   13
TRAP_ERR   14
TRAP_NOERR 15
TRAP_NOERR 16
TRAP_ERR   17
TRAP_NOERR 18
TRAP_NOERR 19
TRAP_NOERR 20
TRAP_ERR   21
TRAP_NOERR 22
TRAP_NOERR 23
TRAP_NOERR 24
TRAP_NOERR 25
TRAP_NOERR 26
TRAP_NOERR 27
TRAP_NOERR 28
TRAP_ERR   29
TRAP_ERR   30
TRAP_NOERR 31
.altmacro
.set i, 32
.rept 16                              /* IRQ 0-15 after the PIC remap: vectors 0x20-0x2F */
    TRAP_NOERR %i
    .set i, i + 1
.endr
TRAP_NOERR 128                        /* int 0x80: system calls */

/* The stubs' addresses, indexed by vector (0-47); trap_init builds the IDT from it. */
.macro VECTOR n
    .quad trap\n
.endm
.section .rodata
.global trap_vectors
trap_vectors:
.set i, 0
.rept 48
    VECTOR %i
    .set i, i + 1
.endr
.text

trap_common:
    pushq %rax
    pushq %rbx
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %rbp
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, %rdi                   /* trap(struct trapframe *) */
    cld
    call trap
.global trapret
trapret:                              /* also where a new process first "returns" to */
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rbp
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rbx
    popq %rax
    addq $16, %rsp                    /* vector and error code */
    iretq

/*
 * swtch(uint64_t *save_rsp, uint64_t new_rsp): save the callee-saved registers on this
 * kernel stack, remember it, and continue on another process's kernel stack where the same
 * six registers wait. The caller-saved ones are already saved by the C calling convention.
 */
.global swtch
swtch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
