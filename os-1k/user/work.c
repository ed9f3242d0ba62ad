/* work.c: a fixed amount of work for one CPU, all of it in ring 3: N million steps (100
 * without N) of a 64-bit xorshift generator, then one line with where it ended. No system call
 * until it is done, so on two CPUs `work & work; wait` takes as long as one `work`, and on one
 * CPU twice as long: what `make bench` times. */
#include "ulib.h"

int main(int argc, char **argv) {
    long n = 100;
    if (argc > 2 || (argc == 2 && (number(argv[1], &n) < 0 || n < 1 || n > 100000))) {
        dprintf(2, "usage: work [N]: N million steps of work, N from 1 to 100000\n");
        return 1;
    }
    unsigned long x = 88172645463325252UL;     /* Marsaglia's xorshift64 (2003), its seed */
    for (long i = 0; i < n * 1000000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
    }
    printf("work: %ld million steps done (%lx)\n", n, x);
    return 0;
}
