/* mult.c: menu 1, the multiplication table from 2*1 to N*N (9 without an argument). */
#include "ulib.h"

int main(int argc, char **argv) {
    long n = 9;
    if (argc > 2 || (argc == 2 && (number(argv[1], &n) < 0 || n < 2 || n > 20))) {
        dprintf(2, "usage: mult [N]: the table from 2*1 to N*N, N from 2 to 20\n");
        return 1;
    }
    printf("\n=== Multiplication Table ===\n");
    for (long a = 2; a <= n; a++) {
        for (long b = 1; b <= n; b++) printf("%ld*%ld=%ld ", a, b, a * b);
        printf("\n");
    }
    return 0;
}
