/* gcd.c: menu 8, Euclid's algorithm on five pairs. */
#include "ulib.h"

static int gcd(int a, int b) {
    while (b) {
        int t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int main(void) {
    static const int pairs[5][2] = {{48, 18}, {100, 75}, {123, 456}, {17, 19}, {1071, 462}};
    printf("\n=== GCD (Greatest Common Divisor) ===\n"
           "Examples of Euclidean algorithm:\n\n");
    for (int i = 0; i < 5; i++)
        printf("GCD(%d, %d) = %d\n", pairs[i][0], pairs[i][1], gcd(pairs[i][0], pairs[i][1]));
    return 0;
}
