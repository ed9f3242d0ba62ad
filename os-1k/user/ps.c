/* ps.c: the processes: pid, parent, process group (a job of the shell), the CPU each runs on
 * (or ran on last), state, name. */
#include "ulib.h"

int main(void) {
    static const char *states[] = {"unused", "runnable", "running", "sleeping", "zombie",
                                   "starting"};
    struct procinfo p[16];
    int n = ps(p, 16);
    printf("  PID  PPID  PGID  CPU  STATE     NAME\n");
    for (int i = 0; i < n; i++)
        printf("  %3d  %4d  %4d  %3d  %-9s %s\n", p[i].pid, p[i].parent, p[i].pgid, p[i].cpu,
               states[p[i].state], p[i].name);
    return 0;
}
