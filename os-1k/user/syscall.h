/*
 * syscall.h: the 1K OS system call numbers, shared by the kernel and user programs.
 *
 * A program puts the number in RAX and up to three arguments in RDI, RSI, RDX, then executes
 * `int 0x80`; the result comes back in RAX (negative = error).
 */
#ifndef SYSCALL_H
#define SYSCALL_H
#define SYS_EXIT      0   /* exit(status): does not return */
#define SYS_WRITE     1   /* write(buf, len) to the console -> len */
#define SYS_READ      2   /* read(buf, len): one line, blocking; 0 at end of input */
#define SYS_GETPID    3
#define SYS_YIELD     4
#define SYS_SLEEP     5   /* sleep(ms) */
#define SYS_UPTIME    6   /* -> milliseconds since boot */
#define SYS_SPAWN     7   /* spawn(name, arg) -> pid, or -1 if no such program */
#define SYS_WAIT      8   /* wait(pid, nohang) -> its exit status (-1 if killed or no such
                             child; with nohang, -2 while it still runs) */
#define SYS_NICE     15   /* nice(pid, n): lab 6 (docs/labs/06-nice.md); the kernel does not
                             know it yet, so it returns -1 */
#define SYS_LISTFILE  9   /* listfile(index, namebuf, buflen) -> size, or -1 past the end */
#define SYS_READFILE 10   /* readfile(name, buf, len) -> bytes read, or -1 */
#define SYS_PS       11   /* ps(struct procinfo *, max) -> count */
#define SYS_KILL     12   /* kill(pid): it ends at its next return to ring 3 -> 0, or -1 */

struct procinfo {
    int pid;
    int state;            /* 1 runnable, 2 running, 3 sleeping, 4 zombie */
    char name[16];
};
#endif
