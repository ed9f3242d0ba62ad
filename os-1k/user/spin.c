/* spin.c: prints LETTER COUNT times (12 without a count), busy-waiting 30 ms between letters.
 * It never yields or sleeps: only the timer interrupt can give the CPU to someone else. It
 * waits mostly in ring 3 (a counting loop, asking the time only now and then): the kernel
 * preempts a process only when a tick interrupts ring 3, never inside a system call. */
#include "ulib.h"

int main(int argc, char **argv) {
    long count = 12;
    if (argc < 2 || argc > 3 || strlen(argv[1]) != 1 ||
        (argc == 3 && (number(argv[2], &count) < 0 || count < 1 || count > 100000))) {
        dprintf(2, "usage: spin LETTER [COUNT]: prints LETTER COUNT times, 30 ms apart\n");
        return 1;
    }
    for (long i = 0; i < count; i++) {
        if (write(1, argv[1], 1) < 0) return 1;
        long start = uptime();
        while (uptime() - start < 30)
            for (volatile int n = 0; n < 20000; n++) {
            }
    }
    return 0;
}
