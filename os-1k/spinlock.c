/*
 * spinlock.c: spinlocks, and turning interrupts off and on in nested pairs (pushcli, popcli).
 * References: Intel SDM Vol. 3A, 9.1.2.2 "Software Controlled Bus Locking" (XCHG with memory
 * is atomic, and locked: a full barrier) and 11.10.2 (the PAUSE hint); xv6's spinlock.c, whose
 * shape this follows.
 *
 * A spinlock is a word that XCHG sets atomically: the CPU that sees it go from 0 to 1 holds
 * the lock; the others spin until it is 0 again. Interrupts are off while a CPU holds one: an
 * interrupt handler that wanted the same lock on the same CPU would spin for ever, since the
 * holder cannot run again until the handler returns (the console's lock, which COM1's
 * interrupt takes, is one). The locks a CPU holds nest, so the interrupt state is counted:
 * pushcli turns interrupts off and counts, popcli counts down and, at zero, turns them back
 * on if they were on at the first pushcli.
 *
 * Three checks turn a locking bug into a panic that names the lock, instead of a machine that
 * hangs now and then: acquiring a lock this CPU holds (it would spin for ever), releasing one
 * it does not hold, and releasing one while interrupts are on (something turned them on while
 * the lock was held).
 */
#include "kernel.h"

/* Interrupts off; the first of nested calls remembers whether they were on. Returns this CPU,
 * which acquire needs too: on a paravirtual KVM every kernel instruction is an emulated one. */
static inline __attribute__((always_inline)) struct cpu *push_cli(void) {
    uint64_t rflags = read_rflags();
    __asm__ volatile("cli");
    struct cpu *c = mycpu();
    if (c->ncli++ == 0) c->intena = (rflags & RFLAGS_IF) != 0;
    return c;
}

/* Undoes one push_cli on CPU c: the last one turns interrupts back on if they were on at the
 * first. */
static inline __attribute__((always_inline)) void pop_cli(struct cpu *c) {
    if (read_rflags() & RFLAGS_IF) panic("popcli: interrupts are on");
    if (--c->ncli < 0) panic("popcli: no pushcli to undo");
    if (c->ncli == 0 && c->intena) __asm__ volatile("sti");
}

void pushcli(void) { push_cli(); }
void popcli(void) { pop_cli(mycpu()); }

/* Does this CPU hold `lk`? */
int holding(struct spinlock *lk) {
    struct cpu *c = push_cli();                /* so that this CPU stays the one asking */
    int r = lk->locked && lk->cpu == c;
    pop_cli(c);
    return r;
}

/* [tour:acquire] */
void acquire(struct spinlock *lk) {
    struct cpu *c = push_cli();                /* off before taking it, until it is released */
    if (lk->locked && lk->cpu == c) panic("acquire: %s: already held by this CPU", lk->name);
    uint32_t taken = 1;
    for (;;) {
        __asm__ volatile("xchgl %0, %1" : "+r"(taken), "+m"(lk->locked) :: "memory");
        if (!taken) break;                     /* it was 0, it is ours */
        while (lk->locked) __asm__ volatile("pause");  /* spin on reads, not on locked XCHGs */
        taken = 1;
    }
    lk->cpu = c;                               /* after the XCHG: a full barrier */
}

void release(struct spinlock *lk) {
    struct cpu *c = mycpu();
    if (read_rflags() & RFLAGS_IF) panic("release: %s: interrupts are on while it is held", lk->name);
    if (!lk->locked || lk->cpu != c) panic("release: %s: not held by this CPU", lk->name);
    lk->cpu = NULL;
    __asm__ volatile("" ::: "memory");         /* x86 keeps stores in order: the compiler too */
    lk->locked = 0;
    pop_cli(c);
}
/* [/tour:acquire] */

/*
 * The locks lab's probe, system call 23 (docs/labs/08-locks.md; the `locks` program): the
 * kernel's locks put to work where a test can see the result. user/syscall.h numbers the ops.
 */
static struct spinlock locktest = SPINLOCK("locktest"), locktest_inner = SPINLOCK("locktest-inner");
static uint64_t locktest_counter;             /* every CPU's increments, under `locktest` */

int64_t sys_locktest(int op, uint64_t n) {
    int64_t r = 0;
    switch (op) {
    case LOCKTEST_ADD:          /* each increment read, then written a little later */
        for (uint64_t i = 0; i < n; i++) {
            acquire(&locktest);
            uint64_t v = locktest_counter;
            for (volatile int delay = 0; delay < 20; delay++) {
            }
            locktest_counter = v + 1;
            release(&locktest);
            mycpu()->locktest_adds++;          /* per-CPU data: no lock, nothing lost */
        }
        return mycpu()->id;
    case LOCKTEST_COUNTER:
        acquire(&locktest);
        r = (int64_t)locktest_counter;
        release(&locktest);
        return r;
    case LOCKTEST_CPU_ADDS:
        return n < (uint64_t)ncpu ? (int64_t)cpus[n].locktest_adds : -EINVAL;
    case LOCKTEST_RESET:
        acquire(&locktest);
        locktest_counter = 0;
        for (int i = 0; i < ncpu; i++) cpus[i].locktest_adds = 0;
        release(&locktest);
        return 0;
    case LOCKTEST_TWICE:
        acquire(&locktest);
        acquire(&locktest);
        panic("acquire: %s: taken twice by one CPU, and nothing said so", locktest.name);
    case LOCKTEST_STI:
        acquire(&locktest);
        __asm__ volatile("sti");
        release(&locktest);
        __asm__ volatile("cli");
        panic("release: %s: released with interrupts on, and nothing said so", locktest.name);
    case LOCKTEST_NEST:         /* interrupts on first, as in the idle loop */
        __asm__ volatile("sti");
        acquire(&locktest);
        r |= (read_rflags() & RFLAGS_IF) ? 0 : 1;
        acquire(&locktest_inner);
        r |= (read_rflags() & RFLAGS_IF) ? 0 : 2;
        release(&locktest_inner);
        r |= (read_rflags() & RFLAGS_IF) ? 0 : 4;
        release(&locktest);
        r |= (read_rflags() & RFLAGS_IF) ? 8 : 0;
        __asm__ volatile("cli");
        return r;
    }
    return -EINVAL;
}
