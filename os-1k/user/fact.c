/* fact.c: menu 7, n! for n = 0 to 20, the largest that fits in 64 bits; `fact N`: N! alone. */
#include "ulib.h"

static unsigned long factorial(long n) {
    unsigned long f = 1;
    for (long i = 2; i <= n; i++) f *= (unsigned long)i;
    return f;
}

int main(int argc, char **argv) {
    long n;
    if (argc == 1) {
        printf("\n=== Factorial Calculator ===\n"
               "Calculating factorials for n = 0 to 20\n\n");
        for (n = 0; n <= 20; n++) printf("%ld! = %lu\n", n, factorial(n));
        printf("\nNote: 21! = 51090942171709440000 does not fit in 64 bits\n");
        return 0;
    }
    if (argc > 2 || number(argv[1], &n) < 0 || n < 0 || n > 20) {
        dprintf(2, "usage: fact [N]: N! for N from 0 to 20 (21! does not fit in 64 bits)\n");
        return 1;
    }
    printf("%ld! = %lu\n", n, factorial(n));
    return 0;
}
