/* primes.c: menu 5, the primes up to N (100 without an argument), ten per line. */
#include "ulib.h"

int main(int argc, char **argv) {
    long max = 100;
    int count = 0;
    if (argc > 2 || (argc == 2 && (number(argv[1], &max) < 0 || max < 2 || max > 100000))) {
        dprintf(2, "usage: primes [N]: the primes up to N, N from 2 to 100000\n");
        return 1;
    }
    printf("\n=== Prime Numbers up to %ld ===\n", max);
    for (long n = 2; n <= max; n++) {
        int prime = 1;
        for (long d = 2; d * d <= n && prime; d++)
            if (n % d == 0) prime = 0;
        if (!prime) continue;
        printf("%ld ", n);
        if (++count % 10 == 0) printf("\n");
    }
    if (count % 10) printf("\n");
    printf("Total: %d primes\n", count);
    return 0;
}
