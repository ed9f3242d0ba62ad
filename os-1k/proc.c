/*
 * proc.c: processes, loading programs, and the round-robin scheduler.
 * References: System V ABI (ELF program headers); Intel SDM Vol. 3A, 6.12.1 (returning to
 * ring 3 with IRETQ) and 7.2.3 (TSS.RSP0); xv6's proc.c for the shape.
 *
 * A process is an address space, a kernel stack and a saved kernel stack pointer. Switching
 * processes is switching kernel stacks (swtch in entry.S) and CR3. A new process's kernel stack
 * is prepared so that its first switch "returns" into trapret, which pops a trap frame
 * pointing at the program's entry in ring 3: the same path every interrupt returns by.
 * Slot 0 is the idle process: kernel_main itself, halting until an interrupt.
 */
#include "kernel.h"

#define KSTACK_SIZE 8192
static struct proc procs[NPROC];
static uint8_t kstacks[NPROC][KSTACK_SIZE] __attribute__((aligned(16)));
struct proc *current;
static int next_pid = 1;

extern char boot_stack_top[];

static inline void load_cr3(uint64_t pa) { __asm__ volatile("mov %0, %%cr3" :: "r"(pa) : "memory"); }

void proc_init(void) {
    struct proc *idle = &procs[0];
    idle->pid = 0;
    idle->state = RUNNING;
    strlcpy(idle->name, "idle", sizeof idle->name);
    idle->pml4 = kernel_pml4;
    idle->kstack_top = (uint64_t)boot_stack_top;
    current = idle;
    kprintf("Created idle process (pid=0)\n");
}

/* ELF64 headers, only the fields a loader needs. */
struct elf_header {
    uint8_t ident[16];
    uint16_t type, machine;
    uint32_t version;
    uint64_t entry, phoff, shoff;
    uint32_t flags;
    uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct elf_phdr {
    uint32_t type, flags;
    uint64_t offset, vaddr, paddr, filesz, memsz, align;
};

/* Maps and fills the program's PT_LOAD segments; returns 0 if the file is not a valid one. */
static int load_program(uint64_t *pml4, const uint8_t *file, size_t size, uint64_t *entry) {
    const struct elf_header *eh = (const void *)file;
    if (size < sizeof *eh || strncmp((const char *)eh->ident, "\x7f" "ELF", 4) ||
        eh->machine != EM_X86_64 || eh->phentsize != sizeof(struct elf_phdr) ||
        eh->phoff + eh->phnum * sizeof(struct elf_phdr) > size)
        return 0;
    const struct elf_phdr *ph = (const void *)(file + eh->phoff);
    for (int i = 0; i < eh->phnum; i++, ph++) {
        if (ph->type != PT_LOAD) continue;
        if (ph->vaddr < USER_BASE || ph->memsz > USER_STACK - 0x10000 - ph->vaddr ||
            ph->filesz > ph->memsz || ph->offset + ph->filesz > size)
            return 0;
        for (uint64_t va = ph->vaddr & ~(PAGE_SIZE - 1); va < ph->vaddr + ph->memsz; va += PAGE_SIZE) {
            uint64_t pa = page_alloc();
            if (!pa || vm_map(pml4, va, pa, PTE_W | PTE_U) < 0) return 0;
            /* Copy the part of the file that falls in this page; the rest stays zero. */
            uint64_t from = va < ph->vaddr ? ph->vaddr : va;
            uint64_t to = ph->vaddr + ph->filesz;
            if (to > va + PAGE_SIZE) to = va + PAGE_SIZE;
            if (from < to)
                memcpy((uint8_t *)P2V(pa) + (from - va), file + ph->offset + (from - ph->vaddr), to - from);
        }
    }
    *entry = eh->entry;
    return 1;
}

/* Starts program `name` from the file system with argument string `arg`; returns its pid. */
int proc_spawn(const char *name, const char *arg) {
    size_t size;
    const uint8_t *file = (const uint8_t *)fs_find(name, &size);
    if (!file) return -1;
    int slot = 1;
    while (slot < NPROC && procs[slot].state != UNUSED) slot++;
    if (slot == NPROC) return -1;
    struct proc *p = &procs[slot];
    uint64_t entry;
    p->pml4 = vm_new();
    if (!p->pml4 || !load_program(p->pml4, file, size, &entry)) {
        if (p->pml4) vm_free(p->pml4);
        return -1;
    }
    /* The user stack: two pages under USER_STACK; the argument string sits at the top. */
    uint64_t stack_pa = 0;
    for (uint64_t va = USER_STACK - 2 * PAGE_SIZE; va < USER_STACK; va += PAGE_SIZE) {
        stack_pa = page_alloc();
        if (!stack_pa || vm_map(p->pml4, va, stack_pa, PTE_W | PTE_U) < 0) {
            vm_free(p->pml4);
            return -1;
        }
    }
    char *arg_copy = (char *)P2V(stack_pa) + PAGE_SIZE - 64;
    strlcpy(arg_copy, arg ? arg : "", 64);
    uint64_t arg_va = USER_STACK - 64;

    /* The kernel stack: a trap frame for IRETQ into ring 3, and under it what swtch pops. [tour:first-frame] */
    p->kstack_top = (uint64_t)&kstacks[slot][KSTACK_SIZE];
    struct trapframe *tf = (struct trapframe *)(p->kstack_top - sizeof *tf);
    memset(tf, 0, sizeof *tf);
    tf->rip = entry;
    tf->cs = USER_CS;
    tf->rflags = 0x202;                        /* IF: interrupts on in ring 3 */
    tf->rsp = arg_va - 8;                      /* as if called: RSP + 8 is 16-byte aligned */
    tf->ss = USER_DS;
    tf->rdi = arg_va;                          /* main(arg) */
    uint64_t *sp = (uint64_t *)tf;
    *--sp = (uint64_t)trapret;                 /* swtch's `ret` goes here */
    for (int i = 0; i < 6; i++) *--sp = 0;     /* rbp, rbx, r12-r15 */
    p->context = (uint64_t)sp;
    /* [/tour:first-frame] */
    p->pid = next_pid++;
    strlcpy(p->name, name, sizeof p->name);
    p->parent = current ? current->pid : 0;
    p->chan = NULL;
    p->exit_status = 0;
    p->killed = 0;
    p->state = RUNNABLE;
    return p->pid;
}

/* Gives the CPU to the next runnable process after the current one (round robin), or to the
 * idle process if there is none. Interrupts are off throughout. */
/* [tour:schedule] */
static void schedule(void) {
    struct proc *old = current, *next = &procs[0];
    int start = (int)(old - procs);
    for (int i = 1; i <= NPROC; i++) {
        struct proc *p = &procs[(start + i) % NPROC];
        if (p != &procs[0] && (p->state == RUNNABLE || (p == old && p->state == RUNNING))) {
            next = p;
            break;
        }
    }
    if (next == old) return;
    if (old->state == RUNNING) old->state = RUNNABLE;
    next->state = RUNNING;
    current = next;
    tss_set_rsp0(next->kstack_top);
    load_cr3(V2P(next->pml4));
    swtch(&old->context, next->context);
}
/* [/tour:schedule] */

void yield(void) { schedule(); }

void sleep_on(void *chan) {
    current->chan = chan;
    current->state = SLEEPING;
    schedule();
    current->chan = NULL;
}

void wakeup(void *chan) {
    for (int i = 0; i < NPROC; i++)
        if (procs[i].state == SLEEPING && procs[i].chan == chan) procs[i].state = RUNNABLE;
}

/* Timer tick: wake processes whose sleep() is over. */
void proc_tick(void) {
    for (int i = 0; i < NPROC; i++)
        if (procs[i].state == SLEEPING && procs[i].chan == &ticks && ticks >= procs[i].wake_tick)
            procs[i].state = RUNNABLE;
}

void proc_sleep_ms(uint64_t ms) {
    current->wake_tick = ticks + (ms + 9) / 10;
    while (ticks < current->wake_tick && !current->killed) sleep_on((void *)&ticks);
}

/* Marks process `pid` to end at its next return to ring 3, waking it if it sleeps; the idle
 * process and the shell cannot be killed. 0, or -1 if there is no such process. */
int proc_kill(int pid) {
    for (int i = 2; i < NPROC; i++) {
        struct proc *p = &procs[i];
        if (p->state == UNUSED || p->state == ZOMBIE || p->pid != pid || pid <= 1) continue;
        p->killed = 1;
        if (p->state == SLEEPING) p->state = RUNNABLE;
        return 0;
    }
    return -1;
}

/* Ends the current process. The first process (the shell) ending powers the machine off. */
void proc_exit(int status) {
    struct proc *p = current;
    if (p->pid == 1) power_off(status);
    load_cr3(V2P(kernel_pml4));               /* stop using the address space we free */
    vm_free(p->pml4);
    p->pml4 = kernel_pml4;
    p->exit_status = status;
    for (int i = 0; i < NPROC; i++)            /* orphans go to the shell */
        if (procs[i].state != UNUSED && procs[i].parent == p->pid) procs[i].parent = 1;
    p->state = ZOMBIE;
    for (int i = 0; i < NPROC; i++)
        if (procs[i].state != UNUSED && procs[i].pid == p->parent) wakeup(&procs[i]);
    schedule();
    panic("a zombie ran");
}

/* Waits for child `pid` to end; returns its status, or -1 if there is no such child. With
 * `nohang`, returns -2 at once if it is still running (the shell's background jobs). */
int proc_wait(int pid, int nohang) {
    for (;;) {
        struct proc *child = NULL;
        for (int i = 1; i < NPROC; i++)
            if (procs[i].state != UNUSED && procs[i].pid == pid && procs[i].parent == current->pid)
                child = &procs[i];
        if (!child) return -1;
        if (child->state == ZOMBIE) {
            child->state = UNUSED;
            return child->exit_status;
        }
        if (nohang) return -2;
        sleep_on(current);
    }
}

/* For the ps system call: a snapshot of the process table. */
int proc_list(int *pids, int *states, char (*names)[16], int max) {
    int n = 0;
    for (int i = 0; i < NPROC && n < max; i++) {
        if (procs[i].state == UNUSED) continue;
        pids[n] = procs[i].pid;
        states[n] = procs[i].state;
        strlcpy(names[n], procs[i].name, 16);
        n++;
    }
    return n;
}

/* The idle process: wait for an interrupt, then run whatever became runnable. [tour:idle] */
void scheduler(void) {
    for (;;) {
        __asm__ volatile("sti; hlt; cli");
        schedule();
    }
}
/* [/tour:idle] */
