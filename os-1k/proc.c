/*
 * proc.c: processes, loading programs, and the round-robin scheduler.
 * References: Intel SDM Vol. 3A, 6.12.1 (returning to ring 3 with IRETQ) and 7.2.3
 * (TSS.RSP0); xv6's proc.c for the shape.
 *
 * A process is an address space, a kernel stack and a saved kernel stack pointer, and its
 * descriptors. Switching processes is switching kernel stacks (swtch in entry.S) and CR3. A new
 * process's kernel stack is prepared so that its first switch "returns" into trapret, which
 * pops a trap frame pointing at the program's entry in ring 3: the same path every interrupt
 * returns by (exec.c loads the program). Slot 0 is the idle process: kernel_main itself,
 * halting until an interrupt.
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

/* A free slot, reserved (EMBRYO) with a new pid, its descriptors closed; NULL if none. */
struct proc *proc_alloc(void) {
    for (int slot = 1; slot < NPROC; slot++) {
        struct proc *p = &procs[slot];
        if (p->state != UNUSED) continue;
        memset(p, 0, sizeof *p);
        p->state = EMBRYO;
        p->pid = next_pid++;
        p->parent = current->pid;
        p->pgid = current->pgid;
        p->kstack_top = (uint64_t)&kstacks[slot][KSTACK_SIZE];
        return p;
    }
    return NULL;
}

/* Makes `p` runnable: its first switch enters the program at `entry` in ring 3, with `rsp` its
 * stack pointer (exec.c loaded the program and put its arguments there). */
void proc_start(struct proc *p, uint64_t entry, uint64_t rsp) {
    /* The kernel stack: a trap frame for IRETQ into ring 3, and under it what swtch pops. [tour:first-frame] */
    struct trapframe *tf = (struct trapframe *)(p->kstack_top - sizeof *tf);
    memset(tf, 0, sizeof *tf);
    tf->rip = entry;
    tf->cs = USER_CS;
    tf->rflags = 0x202;                        /* IF: interrupts on in ring 3 */
    tf->rsp = rsp;                             /* argc, then argv[] (exec.c) */
    tf->ss = USER_DS;
    uint64_t *sp = (uint64_t *)tf;
    *--sp = (uint64_t)trapret;                 /* swtch's `ret` goes here */
    for (int i = 0; i < 6; i++) *--sp = 0;     /* rbp, rbx, r12-r15 */
    p->context = (uint64_t)sp;
    /* [/tour:first-frame] */
    p->state = RUNNABLE;
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

/* Marks `p` to end at its next return to ring 3, waking it if it sleeps (a sleeping process
 * checks `killed` when it wakes). The idle process and the shell (pid 1) are never ended. */
static int mark_killed(struct proc *p) {
    if (p->pid <= 1 || p->state == UNUSED || p->state == ZOMBIE || p->state == EMBRYO) return 0;
    p->killed = 1;
    if (p->state == SLEEPING) p->state = RUNNABLE;
    return 1;
}

/* kill(pid): 0, or -ESRCH if there is no such process (or it is one that cannot be killed). */
int proc_kill(int pid) {
    for (int i = 0; i < NPROC; i++)
        if (procs[i].pid == pid && mark_killed(&procs[i])) return 0;
    return -ESRCH;
}

/* Ctrl-C: every process of group `pgid`. */
int proc_kill_group(int pgid) {
    int n = 0;
    for (int i = 0; i < NPROC; i++)
        if (procs[i].pgid == pgid) n += mark_killed(&procs[i]);
    return n;
}

/* Ends the current process: its descriptors close (which may end a pipe: its reader sees end
 * of file), its children go to the shell. The first process (the shell) ending powers the
 * machine off. */
void proc_exit(int status) {
    struct proc *p = current;
    if (p->pid == 1) power_off(status);
    for (int fd = 0; fd < NOFILE; fd++) {
        if (!p->ofile[fd]) continue;
        file_close(p->ofile[fd]);
        p->ofile[fd] = NULL;
    }
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

/* wait(pid, &status, nohang): waits for the child `pid` (-1: any child) to end and frees its
 * slot; returns its pid and sets *status. -ECHILD if there is no such child; with `nohang`, 0
 * at once if it still runs. */
int proc_wait(int pid, int *status, int nohang) {
    for (;;) {
        int children = 0;
        for (int i = 1; i < NPROC; i++) {
            struct proc *c = &procs[i];
            if (c->state == UNUSED || c->parent != current->pid || (pid != -1 && c->pid != pid))
                continue;
            children++;
            if (c->state != ZOMBIE) continue;
            *status = c->exit_status;
            c->state = UNUSED;
            return c->pid;
        }
        if (!children) return -ECHILD;
        if (nohang) return 0;
        if (current->killed) return -1;
        sleep_on(current);
    }
}

/* For the ps system call: a snapshot of the process table. */
int proc_list(struct procinfo *out, int max) {
    int n = 0;
    for (int i = 0; i < NPROC && n < max; i++) {
        if (procs[i].state == UNUSED) continue;
        out[n].pid = procs[i].pid;
        out[n].state = procs[i].state;
        out[n].parent = procs[i].parent;
        out[n].pgid = procs[i].pgid;
        memcpy(out[n].name, procs[i].name, sizeof out[n].name);
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
