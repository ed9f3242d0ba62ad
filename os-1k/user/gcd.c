/* gcd.c: menu 8, Euclid's algorithm on five pairs; `gcd A B`: on that pair. */
#include "ulib.h"

static long gcd(long a, long b) {
    while (b) {
        long t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int main(int argc, char **argv) {
    static const long pairs[5][2] = {{48, 18}, {100, 75}, {123, 456}, {17, 19}, {1071, 462}};
    long a, b;
    if (argc == 3 && number(argv[1], &a) == 0 && number(argv[2], &b) == 0 && a > 0 && b > 0) {
        printf("GCD(%ld, %ld) = %ld\n", a, b, gcd(a, b));
        return 0;
    }
    if (argc != 1) {
        dprintf(2, "usage: gcd [A B]: the greatest common divisor of two positive numbers\n");
        return 1;
    }
    printf("\n=== GCD (Greatest Common Divisor) ===\n"
           "Examples of Euclidean algorithm:\n\n");
    for (int i = 0; i < 5; i++)
        printf("GCD(%ld, %ld) = %ld\n", pairs[i][0], pairs[i][1], gcd(pairs[i][0], pairs[i][1]));
    return 0;
}
