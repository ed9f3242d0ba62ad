/* spin.c: prints its argument letter 12 times, busy-waiting 30 ms between letters. It never
 * yields or sleeps: only the timer interrupt can give the CPU to someone else. It waits mostly
 * in ring 3 (a counting loop, asking the time only now and then): the kernel preempts a process
 * only when a tick interrupts ring 3, never inside a system call. */
#include "ulib.h"

int main(const char *arg) {
    char letter = arg[0] ? arg[0] : '?';
    for (int i = 0; i < 12; i++) {
        write(&letter, 1);
        long start = uptime();
        while (uptime() - start < 30)
            for (volatile int n = 0; n < 20000; n++) {
            }
    }
    return 0;
}
