/* counter.c: menu 2, counting from 0 to N - 1 (to 9 without an argument). */
#include "ulib.h"

int main(int argc, char **argv) {
    long n = 10;
    if (argc > 2 || (argc == 2 && (number(argv[1], &n) < 0 || n < 1 || n > 1000))) {
        dprintf(2, "usage: counter [N]: counts from 0 to N - 1, N from 1 to 1000\n");
        return 1;
    }
    printf("\n=== Counter 0-%ld ===\n", n - 1);
    for (long i = 0; i < n; i++) printf("%ld ", i);
    printf("\n");
    return 0;
}
