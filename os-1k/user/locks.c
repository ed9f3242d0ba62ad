/* locks.c: the locks lab's program (docs/labs/08-locks.md): the kernel's spinlocks put to work
 * through the locktest system call, and what it saw.
 *   locks count [N]  a process for each CPU (two on one CPU), each adding 1 at a time to a
 *                    counter in the kernel, N times (1000 without N) and then until every CPU
 *                    has added N times: the counter must be the sum of what the CPUs added
 *   locks twice      the kernel takes a lock it holds: it must panic, naming the lock
 *   locks sti        the kernel turns interrupts on while it holds a lock: it must panic
 *   locks nest       two nested locks: interrupts off under them, on again after */
#include "ulib.h"

/* Has every CPU made n increments? */
static int every_cpu_added(int ncpu, long n) {
    for (int cpu = 0; cpu < ncpu; cpu++)
        if (locktest(LOCKTEST_CPU_ADDS, cpu) < n) return 0;
    return 1;
}

/* One of count's processes: it adds until it has added n times and every CPU has too, so that
 * on several CPUs the processes add at once, each CPU n times at least. */
static int add(long n) {
    int ncpu = cpus();
    for (long i = 0; i < n || !every_cpu_added(ncpu, n); i++) locktest(LOCKTEST_ADD, 1);
    return 0;
}

static int count(long n) {
    char number[24], *argv[] = {"locks", "add", number, NULL};
    int ncpu = cpus(), len = 0;
    for (long v = n; v; v /= 10) len++;        /* n as a decimal string */
    number[len] = 0;
    for (long v = n; v; v /= 10) number[--len] = (char)('0' + v % 10);
    int pids[8], n_procs = ncpu < 2 ? 2 : ncpu > 8 ? 8 : ncpu, started = 0;
    locktest(LOCKTEST_RESET, 0);
    for (int i = 0; i < n_procs; i++)
        if ((pids[i] = spawn("locks", argv, NULL)) >= 0) started++;
    for (int i = 0; i < n_procs; i++)
        if (pids[i] >= 0) wait(pids[i]);
    if (started < n_procs) {
        printf("locks: cannot start %d processes\n", n_procs);
        return 1;
    }
    long sum = 0;
    printf("locks:");
    for (int cpu = 0; cpu < ncpu; cpu++) {
        long added = locktest(LOCKTEST_CPU_ADDS, cpu);
        printf("%s CPU %d added %ld", cpu ? "," : "", cpu, added);
        sum += added;
    }
    long counter = locktest(LOCKTEST_COUNTER, 0);
    if (counter == sum) printf("; the counter is %ld: none lost\n", counter);
    else printf("; the counter is %ld: %ld lost\n", counter, sum - counter);
    return counter == sum ? 0 : 1;
}

int main(int argc, char **argv) {
    long n = 1000;
    if (argc >= 2 && !strcmp(argv[1], "count") &&
        (argc == 2 || (argc == 3 && number(argv[2], &n) == 0 && n >= 1 && n <= 1000000)))
        return count(n);
    if (argc == 3 && !strcmp(argv[1], "add") && number(argv[2], &n) == 0) return add(n);
    if (argc == 2 && !strcmp(argv[1], "twice")) {
        printf("locks: one CPU takes the lock locktest twice: the kernel must say so\n");
        locktest(LOCKTEST_TWICE, 0);
        return 1;
    }
    if (argc == 2 && !strcmp(argv[1], "sti")) {
        printf("locks: interrupts on while the lock locktest is held: the kernel must say so\n");
        locktest(LOCKTEST_STI, 0);
        return 1;
    }
    if (argc == 2 && !strcmp(argv[1], "nest")) {
        long bits = locktest(LOCKTEST_NEST, 0);
        const char *yes[2] = {"no", "yes"};
        printf("locks: interrupts off under one lock: %s, under two: %s, after the inner "
               "release: %s; on again after the outer: %s\n",
               yes[bits & 1], yes[bits >> 1 & 1], yes[bits >> 2 & 1], yes[bits >> 3 & 1]);
        return bits == 15 ? 0 : 1;
    }
    dprintf(2, "usage: locks count [N] | twice | sti | nest\n");
    return 1;
}
