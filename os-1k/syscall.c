/*
 * syscall.c: the system calls. Number in RAX, arguments in RDI, RSI, RDX, result in RAX
 * (user/syscall.h): one `switch`. The calls on descriptors are in file.c, pipe in pipe.c.
 * Every pointer from ring 3 is checked against the process's page tables before the kernel
 * touches it, so a bad one is an error (-EFAULT), never a kernel fault.
 */
#include "kernel.h"
#include "fs.h"

/* spawn(path, argv, attr): the arguments and attributes copied in, checked, then exec.c. */
static int64_t sys_spawn(uint64_t upath, uint64_t uargv, uint64_t uattr) {
    char path[FS_NAME_MAX + 8], strings[SPAWN_ARG_BYTES], *argv[SPAWN_MAX_ARGS + 1];
    int argc = 0, r = copy_string_in(path, upath, sizeof path);
    if (r < 0) return r;
    size_t used = 0;
    for (;; argc++) {
        uint64_t slot = uargv + 8UL * (uint64_t)argc, s;
        if (!user_range_ok(current->pml4, slot, 8, 0)) return -EFAULT;
        if (!(s = *(uint64_t *)slot)) break;
        if (argc == SPAWN_MAX_ARGS) return -E2BIG;
        if ((r = copy_string_in(strings + used, s, sizeof strings - used)) < 0)
            return r == -ENAMETOOLONG ? -E2BIG : r;
        argv[argc] = strings + used;
        used += strlen(argv[argc]) + 1;
    }
    argv[argc] = NULL;
    struct spawnattr attr = {{0, 1, 2}, 0, 0};
    if (uattr) {
        if (!user_range_ok(current->pml4, uattr, sizeof attr, 0)) return -EFAULT;
        attr = *(struct spawnattr *)uattr;
    }
    struct file *fd[3];
    for (int i = 0; i < 3; i++) {
        fd[i] = fd_file(attr.fd[i]);
        if (attr.fd[i] != -1 && !fd[i]) return -EBADF;
    }
    int pgid = attr.pgid ? attr.pgid : current->pgid;
    if (pgid < SPAWN_NEW_GROUP) return -EINVAL;
    if (attr.foreground && !console_owner()) return -EPERM;
    return spawn(path, argv, argc, fd, pgid, attr.foreground);
}

static int64_t sys_wait(int pid, uint64_t ustatus, int options) {
    int status = 0;
    if (ustatus && !user_range_ok(current->pml4, ustatus, sizeof(int), 1)) return -EFAULT;
    int r = proc_wait(pid, &status, options & WNOHANG);
    if (r > 0 && ustatus) *(int *)ustatus = status;
    return r;
}

static int64_t sys_ps(uint64_t buf, uint64_t max) {
    if (max > NPROC) max = NPROC;
    if (!user_range_ok(current->pml4, buf, max * sizeof(struct procinfo), 1)) return -EFAULT;
    return proc_list((struct procinfo *)buf, (int)max);
}

static int64_t sys_readdir(uint64_t index, uint64_t uent) {
    if (!user_range_ok(current->pml4, uent, sizeof(struct dirent), 1)) return -EFAULT;
    struct dirent *d = (struct dirent *)uent;
    return fs_dirent((int)index, d->name, &d->size);
}

void syscall(struct trapframe *tf) {
    uint64_t a = tf->rdi, b = tf->rsi, c = tf->rdx;
    int64_t r = -1;                            /* a number the kernel does not know: -1 */
    switch (tf->rax) {
    case SYS_EXIT:
        proc_exit((int)a & 0xFF);
    case SYS_WRITE:
        r = sys_write((int)a, b, c);
        break;
    case SYS_READ:
        r = sys_read((int)a, b, c);
        break;
    case SYS_OPEN:
        r = sys_open(a, (int)b);
        break;
    case SYS_CLOSE:
        r = sys_close((int)a);
        break;
    case SYS_DUP:
        r = sys_dup((int)a);
        break;
    case SYS_PIPE:
        r = sys_pipe(a);
        break;
    case SYS_UNLINK:
        r = sys_unlink(a);
        break;
    case SYS_READDIR:
        r = sys_readdir(a, b);
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
        r = sys_spawn(a, b, c);
        break;
    case SYS_WAIT:
        r = sys_wait((int)a, b, (int)c);
        break;
    case SYS_KILL:
        r = proc_kill((int)a);
        break;
    case SYS_PS:
        r = sys_ps(a, b);
        break;
    case SYS_FOREGROUND:
        r = console_owner() ? (console_foreground((int)a), 0) : -EPERM;
        break;
    case SYS_RAWMODE:
        r = console_owner() ? console_rawmode((int)a) : -EPERM;
        break;
    case SYS_CPUS:
        r = ncpu;
        break;
    case SYS_LOCKTEST:
        r = sys_locktest((int)a, b);
        break;
    }
    tf->rax = (uint64_t)r;
}
