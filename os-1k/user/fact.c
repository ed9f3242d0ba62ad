/* fact.c: menu 7, n! for n = 0..12, the largest that fits in 32 bits. */
#include "ulib.h"

int main(void) {
    printf("\n=== Factorial Calculator ===\n"
           "Calculating factorials for n = 0 to 12\n\n");
    unsigned f = 1;
    for (unsigned n = 0; n <= 12; n++) {
        if (n) f *= n;
        printf("%u! = %u\n", n, f);
    }
    printf("\nNote: 13! = 6227020800 (overflow on 32-bit)\n");
    return 0;
}
