/* ulib.h: the 1K OS user library: system call wrappers, printf, strings. */
#ifndef ULIB_H
#define ULIB_H
#include "syscall.h"

#include "../lib.h"                     /* size_t, strings, memset/memcpy, vformat */

/* `int 0x80` with the number in RAX and arguments in RDI, RSI, RDX; the kernel keeps every
 * other register. */
static inline long syscall3(long n, long a, long b, long c) {
    long r;
    __asm__ volatile("int $0x80" : "=a"(r) : "a"(n), "D"(a), "S"(b), "d"(c) : "memory");
    return r;
}

static inline void exit(int status) { syscall3(SYS_EXIT, status, 0, 0); for (;;) {} }
static inline long write(const void *buf, size_t n) { return syscall3(SYS_WRITE, (long)buf, (long)n, 0); }
static inline long read(void *buf, size_t n) { return syscall3(SYS_READ, (long)buf, (long)n, 0); }
static inline int getpid(void) { return (int)syscall3(SYS_GETPID, 0, 0, 0); }
static inline void yield(void) { syscall3(SYS_YIELD, 0, 0, 0); }
static inline void sleep(long ms) { syscall3(SYS_SLEEP, ms, 0, 0); }
static inline long uptime(void) { return syscall3(SYS_UPTIME, 0, 0, 0); }
static inline int spawn(const char *name, const char *arg) { return (int)syscall3(SYS_SPAWN, (long)name, (long)arg, 0); }
static inline int wait(int pid) { return (int)syscall3(SYS_WAIT, pid, 0, 0); }
static inline int wait_nohang(int pid) { return (int)syscall3(SYS_WAIT, pid, 1, 0); }
static inline int kill(int pid) { return (int)syscall3(SYS_KILL, pid, 0, 0); }
static inline long listfile(int i, char *name, size_t n) { return syscall3(SYS_LISTFILE, i, (long)name, (long)n); }
static inline long readfile(const char *name, void *buf, size_t n) { return syscall3(SYS_READFILE, (long)name, (long)buf, (long)n); }
static inline int ps(struct procinfo *p, int max) { return (int)syscall3(SYS_PS, (long)p, max, 0); }
static inline int nice(int pid, int n) { return (int)syscall3(SYS_NICE, pid, n, 0); }

/* Every program's entry is `int main(const char *arg)` (or `int main(void)`), called by
 * crt0.S: `arg` is the argument string it was started with, the result its exit status. */

int printf(const char *fmt, ...);
int readline(char *buf, size_t max);   /* one line without its newline; -1 at end of input */
int run(const char *program, const char *arg);   /* spawn and wait: its exit status */
#endif
