/* fib.c: menu 4, the first 15 Fibonacci numbers. */
#include "ulib.h"

int main(void) {
    printf("\n=== Fibonacci Sequence (first 15 numbers) ===\n");
    unsigned a = 0, b = 1;
    for (int i = 0; i < 15; i++) {
        printf("F(%d) = %u\n", i, a);
        unsigned next = a + b;
        a = b;
        b = next;
    }
    return 0;
}
