/*
 * syscall.h: the 1K OS system calls, shared by the kernel and user programs: their numbers,
 * the structures and flags they take, and the error numbers they return.
 *
 * A program puts the number in RAX and up to three arguments in RDI, RSI, RDX, then executes
 * `int 0x80`; the result comes back in RAX. A negative result is an error: -1, or minus one of
 * the E numbers below (Linux's numbers, so that the names mean what they mean there).
 */
#ifndef SYSCALL_H
#define SYSCALL_H
#define SYS_EXIT      0   /* exit(status): does not return; the parent sees status & 0xFF */
#define SYS_WRITE     1   /* write(fd, buf, n) -> bytes written (fewer: see FS_WRITE_MAX) */
#define SYS_READ      2   /* read(fd, buf, n) -> bytes read, 0 at end of file */
#define SYS_GETPID    3
#define SYS_YIELD     4
#define SYS_SLEEP     5   /* sleep(ms) */
#define SYS_UPTIME    6   /* -> milliseconds since boot */
#define SYS_SPAWN     7   /* spawn(path, argv, attr) -> pid: a new process running the
                             program `path` (below) */
#define SYS_WAIT      8   /* wait(pid, &status, options) -> pid; 0 with WNOHANG while it runs;
                             pid -1: any child */
#define SYS_OPEN      9   /* open(path, flags) -> the lowest free descriptor */
#define SYS_CLOSE    10   /* close(fd) */
#define SYS_PS       11   /* ps(struct procinfo *, max) -> count */
#define SYS_KILL     12   /* kill(pid): it ends at its next return to ring 3 -> 0 */
                          /* 13 and 14: the labs' getppid and vmprint (docs/labs/) */
#define SYS_NICE     15   /* nice(pid, n): lab 6 (docs/labs/06-nice.md); the kernel does not
                             know it yet, so it returns -1 */
#define SYS_DUP      16   /* dup(fd) -> the lowest free descriptor, sharing fd's open file */
#define SYS_PIPE     17   /* pipe(int fd[2]): fd[0] reads what fd[1] writes */
#define SYS_UNLINK   18   /* unlink(path) */
#define SYS_READDIR  19   /* readdir(index, struct dirent *) -> 1, or 0 past the last file */
#define SYS_FOREGROUND 20 /* foreground(pgid): that process group gets the console (below) */
#define SYS_RAWMODE  21   /* rawmode(on): console reads without line editing (below) -> the
                             previous mode; both -EPERM from a background job */
#define SYS_CPUS     22   /* cpus() -> how many CPUs run processes */
#define SYS_LOCKTEST 23   /* locktest(op, n): the locks lab's probe of the kernel's spinlocks
                             (docs/labs/08-locks.md), one of the ops below */
                          /* 24: lab 9's diskid (docs/labs/09-diskid.md) */

/* open's flags (Linux's values). */
#define O_RDONLY  0
#define O_WRONLY  1
#define O_RDWR    2
#define O_CREAT   0x40     /* make the file if there is none */
#define O_TRUNC   0x200    /* empty it */
#define O_APPEND  0x400    /* every write goes to the end */

#define WNOHANG   1        /* wait's option: do not wait for a child that still runs */

/*
 * spawn(path, argv, attr) starts the program `path` in a new process, with the arguments
 * argv[0], argv[1], ... up to a NULL pointer: at most SPAWN_MAX_ARGS of them, SPAWN_ARG_BYTES
 * together (each string with its NUL). The program gets them as main(argc, argv).
 * attr NULL: the child gets the caller's descriptors 0, 1, 2 and joins its process group.
 */
#define SPAWN_MAX_ARGS  32
#define SPAWN_ARG_BYTES 1024
#define SPAWN_NEW_GROUP (-1)
struct spawnattr {
    int fd[3];          /* the caller's descriptors that become the child's 0, 1, 2 (-1: none) */
    int pgid;           /* 0: the caller's group; SPAWN_NEW_GROUP: a new one, numbered as the
                           child's pid; otherwise the group to join */
    int foreground;     /* 1: the child's group gets the console at once (see foreground()) */
};

/*
 * The console belongs to one process group, the foreground one: Ctrl-C ends every process
 * in it (never pid 1, the shell), and only its processes read the console; a read from any
 * other process (a background job) gets end of input. Only the foreground group and pid 1
 * may give the console to another group (foreground(), or spawn's attribute) or change its
 * mode. rawmode(1) makes console reads return the bytes as they arrive, at least one, up to
 * the end of a line, unedited and not echoed (the shell's line editor uses it); rawmode(0) is
 * the line discipline: echo, Backspace, Ctrl-U, Ctrl-D, whole lines.
 */

/* locktest's ops. */
#define LOCKTEST_ADD      0   /* n increments of a counter all CPUs share -> this CPU's number */
#define LOCKTEST_COUNTER  1   /* -> the shared counter */
#define LOCKTEST_CPU_ADDS 2   /* -> how many increments CPU n made (its own count, unshared) */
#define LOCKTEST_RESET    3   /* the counter and every CPU's count back to 0 */
#define LOCKTEST_TWICE    4   /* acquires a lock twice: the kernel panics, naming it */
#define LOCKTEST_STI      5   /* turns interrupts on while holding a lock: the kernel panics */
#define LOCKTEST_NEST     6   /* two nested locks, interrupts on before -> bits: off under one
                                 (1), under two (2), after the inner release (4), on again
                                 after the outer (8) */

struct procinfo {
    int pid;
    int state;            /* 1 runnable, 2 running, 3 sleeping, 4 zombie, 5 starting */
    int parent;
    int pgid;
    int cpu;              /* the CPU it runs on, or ran on last */
    char name[16];
};

struct dirent {
    char name[28];        /* FS_NAME_MAX in fs.h */
    unsigned size;
};

/* Errors (negated). */
#define EPERM         1   /* not allowed (the console, from a background job) */
#define ENOENT        2   /* no such file */
#define ESRCH         3   /* no such process */
#define EIO           5   /* the disk failed */
#define E2BIG         7   /* arguments too long */
#define ENOEXEC       8   /* not a program */
#define EBADF         9   /* bad file descriptor */
#define ECHILD       10   /* no such child */
#define EAGAIN       11   /* no process slot free */
#define ENOMEM       12   /* out of memory */
#define EFAULT       14   /* bad address */
#define EINVAL       22   /* invalid argument */
#define ENFILE       23   /* too many open files in the system */
#define EMFILE       24   /* too many open files in the process */
#define EFBIG        27   /* file too large */
#define ENOSPC       28   /* the disk is full */
#define EROFS        30   /* read-only file system */
#define ENAMETOOLONG 36   /* name too long */
#endif
