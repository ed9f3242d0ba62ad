/* fib.c: menu 4, the first N Fibonacci numbers (15 without an argument). F(93) is the last that
 * fits in 64 bits. */
#include "ulib.h"

int main(int argc, char **argv) {
    long n = 15;
    if (argc > 2 || (argc == 2 && (number(argv[1], &n) < 0 || n < 1 || n > 94))) {
        dprintf(2, "usage: fib [N]: the first N Fibonacci numbers, N from 1 to 94\n");
        return 1;
    }
    printf("\n=== Fibonacci Sequence (first %ld numbers) ===\n", n);
    unsigned long a = 0, b = 1;
    for (long i = 0; i < n; i++) {
        printf("F(%ld) = %lu\n", i, a);
        unsigned long next = a + b;
        a = b;
        b = next;
    }
    return 0;
}
