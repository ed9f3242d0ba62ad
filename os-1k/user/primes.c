/* primes.c: menu 5, the primes up to 100, ten per line. */
#include "ulib.h"

int main(void) {
    int count = 0;
    printf("\n=== Prime Numbers up to 100 ===\n");
    for (int n = 2; n <= 100; n++) {
        int prime = 1;
        for (int d = 2; d * d <= n; d++)
            if (n % d == 0) prime = 0;
        if (!prime) continue;
        printf("%d ", n);
        if (++count % 10 == 0) printf("\n");
    }
    if (count % 10) printf("\n");
    printf("Total: %d primes\n", count);
    return 0;
}
