/*
 * syscall.c: the system calls. Number in RAX, arguments in RDI, RSI, RDX, result in RAX
 * (user/syscall.h). Every pointer from ring 3 is checked against the process's page tables
 * before the kernel touches it, so a bad one is an error (-1), never a kernel fault.
 */
#include "kernel.h"
#include "user/syscall.h"

/* Copies a NUL-terminated string from ring 3; 0 if it is unmapped or too long. */
static int copy_string_in(char *dst, uint64_t src, size_t max) {
    for (size_t i = 0; i < max; i++) {
        if (!user_range_ok(current->pml4, src + i, 1, 0)) return 0;
        dst[i] = *(const char *)(src + i);
        if (!dst[i]) return 1;
    }
    return 0;
}

static int64_t sys_ps(uint64_t buf, uint64_t max) {
    int pids[NPROC], states[NPROC];
    char names[NPROC][16];
    if (max > NPROC) max = NPROC;
    if (!user_range_ok(current->pml4, buf, max * sizeof(struct procinfo), 1)) return -1;
    int n = proc_list(pids, states, names, (int)max);
    struct procinfo *out = (struct procinfo *)buf;
    for (int i = 0; i < n; i++) {
        out[i].pid = pids[i];
        out[i].state = states[i];
        memcpy(out[i].name, names[i], 16);
    }
    return n;
}

void syscall(struct trapframe *tf) {
    uint64_t a = tf->rdi, b = tf->rsi, c = tf->rdx;
    uint64_t *pml4 = current->pml4;
    char name[32], arg[64];
    const char *fname;
    size_t size;
    int64_t r = -1;
    switch (tf->rax) {
    case SYS_EXIT:
        proc_exit((int)a);
    case SYS_WRITE:
        if (user_range_ok(pml4, a, b, 0)) {
            console_write((const char *)a, b);
            r = (int64_t)b;
        }
        break;
    case SYS_READ:
        if (user_range_ok(pml4, a, b, 1)) r = console_read((char *)a, b);
        break;
    case SYS_GETPID:
        r = current->pid;
        break;
    case SYS_YIELD:
        yield();
        r = 0;
        break;
    case SYS_SLEEP:
        proc_sleep_ms(a);
        r = 0;
        break;
    case SYS_UPTIME:
        r = (int64_t)(ticks * 10);
        break;
    case SYS_SPAWN:
        if (copy_string_in(name, a, sizeof name) && (!b || copy_string_in(arg, b, sizeof arg)))
            r = proc_spawn(name, b ? arg : "");
        break;
    case SYS_WAIT:
        r = proc_wait((int)a, b != 0);
        break;
    case SYS_KILL:
        r = proc_kill((int)a);
        break;
    case SYS_LISTFILE:
        if (fs_entry((int)a, &fname, &size) && user_range_ok(pml4, b, c, 1) && c > 0) {
            strlcpy((char *)b, fname, c);
            r = (int64_t)size;
        }
        break;
    case SYS_READFILE:
        if (copy_string_in(name, a, sizeof name) && (fname = fs_find(name, &size)) &&
            user_range_ok(pml4, b, c, 1)) {
            r = (int64_t)(size < c ? size : c);
            memcpy((void *)b, fname, (size_t)r);
        }
        break;
    case SYS_PS:
        r = sys_ps(a, b);
        break;
    }
    tf->rax = (uint64_t)r;
}
