/* ulib.h: the 1K OS user library: system call wrappers, printf, lines, numbers, errors. */
#ifndef ULIB_H
#define ULIB_H
#include "syscall.h"

#include "../lib.h"                     /* size_t, strings, memset/memcpy, vformat */

#define NULL ((void *)0)
#define LINE_MAX 128                    /* a line the shell reads: up to 127 characters */

/* `int 0x80` with the number in RAX and arguments in RDI, RSI, RDX; the kernel keeps every
 * other register. */
static inline long syscall3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "memory");
    return r;
}

static inline void exit(int status) { syscall3(SYS_EXIT, status, 0, 0); for (;;) {} }
static inline long write(int fd, const void *buf, size_t n) { return syscall3(SYS_WRITE, fd, (long)buf, (long)n); }
static inline long read(int fd, void *buf, size_t n) { return syscall3(SYS_READ, fd, (long)buf, (long)n); }
static inline int open(const char *path, int flags) { return (int)syscall3(SYS_OPEN, (long)path, flags, 0); }
static inline int close(int fd) { return (int)syscall3(SYS_CLOSE, fd, 0, 0); }
static inline int dup(int fd) { return (int)syscall3(SYS_DUP, fd, 0, 0); }
static inline int pipe(int fd[2]) { return (int)syscall3(SYS_PIPE, (long)fd, 0, 0); }
static inline int unlink(const char *path) { return (int)syscall3(SYS_UNLINK, (long)path, 0, 0); }
static inline int readdir(int i, struct dirent *d) { return (int)syscall3(SYS_READDIR, i, (long)d, 0); }
static inline int getpid(void) { return (int)syscall3(SYS_GETPID, 0, 0, 0); }
static inline void yield(void) { syscall3(SYS_YIELD, 0, 0, 0); }
static inline void sleep(long ms) { syscall3(SYS_SLEEP, ms, 0, 0); }
static inline long uptime(void) { return syscall3(SYS_UPTIME, 0, 0, 0); }
static inline int spawn(const char *path, char *const argv[], const struct spawnattr *attr) { return (int)syscall3(SYS_SPAWN, (long)path, (long)argv, (long)attr); }
static inline int waitpid(int pid, int *status, int options) { return (int)syscall3(SYS_WAIT, pid, (long)status, options); }
static inline int kill(int pid) { return (int)syscall3(SYS_KILL, pid, 0, 0); }
static inline int ps(struct procinfo *p, int max) { return (int)syscall3(SYS_PS, (long)p, max, 0); }
static inline int nice(int pid, int n) { return (int)syscall3(SYS_NICE, pid, n, 0); }
static inline int foreground(int pgid) { return (int)syscall3(SYS_FOREGROUND, pgid, 0, 0); }
static inline int rawmode(int on) { return (int)syscall3(SYS_RAWMODE, on, 0, 0); }
static inline int cpus(void) { return (int)syscall3(SYS_CPUS, 0, 0, 0); }
static inline long locktest(int op, long n) { return syscall3(SYS_LOCKTEST, op, n, 0); }

/* Every program's entry is `int main(int argc, char **argv)` (or `int main(void)`), called by
 * crt0.S; what it returns is its exit status. */

int printf(const char *fmt, ...);               /* to descriptor 1 */
int dprintf(int fd, const char *fmt, ...);
long write_all(int fd, const void *buf, size_t n);   /* n, or the error that stopped it */
int getline(int fd, char *buf, size_t max);     /* a line without its newline; -1 at the end */
int readline(char *buf, size_t max);            /* getline from descriptor 0 */
int number(const char *s, long *out);           /* 0 if s is a whole decimal number */
int wait(int pid);                              /* its exit status; -1 if killed or no child */
const char *strerror(int err);                  /* what an error number (or its negation) means */

/* edit.c: the shell's line editor, with a history of the last 16 lines. */
int edit_line(const char *prompt, char *line);  /* line: LINE_MAX bytes; -1 at the end */
void history_add(const char *line);
const char *history_last(void);                 /* NULL before the first line */
void history_print(void);
#endif
