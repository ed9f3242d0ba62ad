/*
 * proc.c: processes, and the round-robin scheduler every CPU runs.
 * References: Intel SDM Vol. 3A, 6.12.1 (returning to ring 3 with IRETQ) and 7.2.3
 * (TSS.RSP0); xv6's proc.c for the shape.
 *
 * A process is an address space, a kernel stack and a saved kernel stack pointer, and its
 * descriptors. Switching processes is switching kernel stacks (swtch in entry.S) and CR3. A new
 * process's kernel stack is prepared so that its first switch "returns" into trapret, which
 * pops a trap frame pointing at the program's entry in ring 3: the same path every interrupt
 * returns by (exec.c loads the program). Slots 0 to ncpu - 1 are the idle processes, one per
 * CPU, all pid 0 (as Linux's are): CPU i's boot context, halting until an interrupt; slot 0 is
 * kernel_main itself.
 *
 * The table is the one run queue, and the spinlock `proc` guards it: every change of state,
 * the scheduler's choice, sleep and wakeup. A CPU switches processes with the lock held, and
 * the process it switches to releases it (where its own switch away returns, or, the first
 * time, in first_run): so no other CPU can take the process it left while that process's
 * kernel stack is still in use.
 */
#include "kernel.h"

#define KSTACK_SIZE 8192
static struct proc procs[NPROC];
static uint8_t kstacks[NPROC][KSTACK_SIZE] __attribute__((aligned(16)));
static struct spinlock proc_lock = SPINLOCK("proc");
static int next_pid = 1;

extern char boot_stack_top[];

static inline void load_cr3(uint64_t pa) { __asm__ volatile("mov %0, %%cr3" :: "r"(pa) : "memory"); }

static int is_idle(struct proc *p) { return p < &procs[ncpu]; }

/* The idle processes; each CPU's stack is its idle process's (CPU 0's is boot.S's). */
void proc_init(void) {
    for (int i = 0; i < ncpu; i++) {
        struct proc *idle = &procs[i];
        idle->pid = 0;
        idle->state = RUNNING;
        idle->cpu = i;
        strlcpy(idle->name, "idle", sizeof idle->name);
        idle->pml4 = kernel_pml4;
        idle->kstack_top = i ? (uint64_t)&kstacks[i][KSTACK_SIZE] : (uint64_t)boot_stack_top;
        cpus[i].proc = idle;
    }
    if (ncpu == 1) kprintf("Created idle process (pid=0)\n");
    else kprintf("Created idle processes (pid=0), one for each of the %d CPUs\n", ncpu);
}

/* A CPU that did not start: its idle process's slot is a free one. */
void proc_drop_cpu(int id) { procs[id].state = UNUSED; }

/* A free slot, reserved (EMBRYO) with a new pid, its descriptors closed; NULL if none. */
struct proc *proc_alloc(void) {
    acquire(&proc_lock);
    for (int slot = ncpu; slot < NPROC; slot++) {
        struct proc *p = &procs[slot];
        if (p->state != UNUSED) continue;
        memset(p, 0, sizeof *p);
        p->state = EMBRYO;
        p->pid = next_pid++;
        p->parent = current->pid;
        p->pgid = current->pgid;
        p->kstack_top = (uint64_t)&kstacks[slot][KSTACK_SIZE];
        release(&proc_lock);
        return p;
    }
    release(&proc_lock);
    return NULL;
}

/* Gives back a slot that proc_alloc reserved, for a process that will not start. */
void proc_free(struct proc *p) {
    acquire(&proc_lock);
    p->state = UNUSED;
    release(&proc_lock);
}

/* Where a new process's first switch lands, still holding the lock the switching CPU took:
 * releases it, and returns into trapret, to ring 3. */
static void first_run(void) { release(&proc_lock); }

/* Makes `p` runnable, named `name`, in process group `pgid`: its first switch enters the
 * program at `entry` in ring 3, with `rsp` its stack pointer (exec.c loaded the program and
 * put its arguments there). */
void proc_start(struct proc *p, const char *name, int pgid, uint64_t entry, uint64_t rsp) {
    /* The kernel stack: a trap frame for IRETQ into ring 3, and under it what swtch pops. [tour:first-frame] */
    struct trapframe *tf = (struct trapframe *)(p->kstack_top - sizeof *tf);
    memset(tf, 0, sizeof *tf);
    tf->rip = entry;
    tf->cs = USER_CS;
    tf->rflags = 0x202;                        /* IF: interrupts on in ring 3 */
    tf->rsp = rsp;                             /* argc, then argv[] (exec.c) */
    tf->ss = USER_DS;
    uint64_t *sp = (uint64_t *)tf;
    *--sp = (uint64_t)trapret;                 /* first_run's `ret` goes here */
    *--sp = (uint64_t)first_run;               /* swtch's `ret` goes here */
    for (int i = 0; i < 6; i++) *--sp = 0;     /* rbp, rbx, r12-r15 */
    p->context = (uint64_t)sp;
    /* [/tour:first-frame] */
    acquire(&proc_lock);
    strlcpy(p->name, name, sizeof p->name);
    p->pgid = pgid;
    p->state = RUNNABLE;
    release(&proc_lock);
}

/* Gives this CPU to the next runnable process after the current one (round robin), or to its
 * idle process if there is none. The caller holds the proc lock, and no other lock: the
 * process switched to releases it. */
/* [tour:schedule] */
static void schedule(void) {
    struct cpu *c = mycpu();
    struct proc *old = c->proc, *next = &procs[c->id];    /* this CPU's idle process */
    if (!holding(&proc_lock) || c->ncli != 1) panic("schedule: not with the proc lock alone");
    int start = (int)(old - procs);
    for (int i = 1; i <= NPROC; i++) {
        struct proc *p = &procs[(start + i) % NPROC];
        if (!is_idle(p) && (p->state == RUNNABLE || (p == old && p->state == RUNNING))) {
            next = p;
            break;
        }
    }
    if (next == old) return;
    if (old->state == RUNNING) old->state = RUNNABLE;
    next->state = RUNNING;
    next->cpu = c->id;
    c->proc = next;
    tss_set_rsp0(next->kstack_top);
    load_cr3(V2P(next->pml4));
    int intena = c->intena;                    /* the kernel thread's, not the CPU's */
    swtch(&old->context, next->context);
    mycpu()->intena = intena;                  /* back, perhaps on another CPU */
}
/* [/tour:schedule] */

void yield(void) {
    acquire(&proc_lock);
    schedule();
    release(&proc_lock);
}

/* Sleeps on `chan` until a wakeup(chan). The caller holds `lk`, which guards the condition it
 * waits for: the proc lock is taken before `lk` is let go, so a wakeup(chan) on another CPU,
 * which needs the proc lock, cannot come in between and be lost. */
/* [tour:sleep] */
void sleep_on(void *chan, struct spinlock *lk) {
    struct proc *p = current;
    if (lk != &proc_lock) {
        acquire(&proc_lock);
        release(lk);
    }
    p->chan = chan;
    p->state = SLEEPING;
    schedule();
    p->chan = NULL;
    if (lk != &proc_lock) {
        release(&proc_lock);
        acquire(lk);
    }
}
/* [/tour:sleep] */

static void wakeup_locked(void *chan) {
    for (int i = 0; i < NPROC; i++)
        if (procs[i].state == SLEEPING && procs[i].chan == chan) procs[i].state = RUNNABLE;
}

void wakeup(void *chan) {
    acquire(&proc_lock);
    wakeup_locked(chan);
    release(&proc_lock);
}

/* Timer tick (CPU 0's): wake processes whose sleep() is over. */
void proc_tick(void) {
    acquire(&proc_lock);
    for (int i = 0; i < NPROC; i++)
        if (procs[i].state == SLEEPING && procs[i].chan == &ticks && ticks >= procs[i].wake_tick)
            procs[i].state = RUNNABLE;
    release(&proc_lock);
}

void proc_sleep_ms(uint64_t ms) {
    acquire(&proc_lock);
    current->wake_tick = ticks + (ms + 9) / 10;
    while (ticks < current->wake_tick && !current->killed) sleep_on((void *)&ticks, &proc_lock);
    release(&proc_lock);
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
    int r = -ESRCH;
    acquire(&proc_lock);
    for (int i = 0; i < NPROC && r; i++)
        if (procs[i].pid == pid && mark_killed(&procs[i])) r = 0;
    release(&proc_lock);
    return r;
}

/* Ctrl-C: every process of group `pgid`. */
int proc_kill_group(int pgid) {
    int n = 0;
    acquire(&proc_lock);
    for (int i = 0; i < NPROC; i++)
        if (procs[i].pgid == pgid) n += mark_killed(&procs[i]);
    release(&proc_lock);
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
    acquire(&proc_lock);
    p->pml4 = kernel_pml4;
    p->exit_status = status;
    for (int i = 0; i < NPROC; i++)            /* orphans go to the shell */
        if (procs[i].state != UNUSED && procs[i].parent == p->pid) procs[i].parent = 1;
    p->state = ZOMBIE;
    for (int i = 0; i < NPROC; i++)
        if (procs[i].state != UNUSED && procs[i].pid == p->parent) wakeup_locked(&procs[i]);
    schedule();                                /* the parent's wait frees the slot, later */
    panic("a zombie ran");
}

/* wait(pid, &status, nohang): waits for the child `pid` (-1: any child) to end and frees its
 * slot; returns its pid and sets *status. -ECHILD if there is no such child; with `nohang`, 0
 * at once if it still runs. */
int proc_wait(int pid, int *status, int nohang) {
    int r = 0, children;
    acquire(&proc_lock);
    for (;;) {
        children = 0;
        for (int i = ncpu; i < NPROC && !r; i++) {
            struct proc *c = &procs[i];
            if (c->state == UNUSED || c->parent != current->pid || (pid != -1 && c->pid != pid))
                continue;
            children++;
            if (c->state != ZOMBIE) continue;
            *status = c->exit_status;
            c->state = UNUSED;
            r = c->pid;
        }
        if (r || !children || nohang || current->killed) break;
        sleep_on(current, &proc_lock);
    }
    release(&proc_lock);
    return r ? r : !children ? -ECHILD : nohang ? 0 : -1;
}

/* For the ps system call: a snapshot of the process table. */
int proc_list(struct procinfo *out, int max) {
    int n = 0;
    acquire(&proc_lock);
    for (int i = 0; i < NPROC && n < max; i++) {
        if (procs[i].state == UNUSED) continue;
        out[n].pid = procs[i].pid;
        out[n].state = procs[i].state;
        out[n].parent = procs[i].parent;
        out[n].pgid = procs[i].pgid;
        out[n].cpu = procs[i].cpu;
        memcpy(out[n].name, procs[i].name, sizeof out[n].name);
        n++;
    }
    release(&proc_lock);
    return n;
}

/* Each CPU's idle process: wait for an interrupt, then run whatever became runnable. [tour:idle] */
void scheduler(void) {
    for (;;) {
        __asm__ volatile("sti; hlt; cli");
        acquire(&proc_lock);
        schedule();
        release(&proc_lock);
    }
}
/* [/tour:idle] */
