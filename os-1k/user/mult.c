/* mult.c: menu 1, the multiplication table from 2*1 to 9*9. */
#include "ulib.h"

int main(void) {
    printf("\n=== Multiplication Table ===\n");
    for (int a = 2; a <= 9; a++) {
        for (int b = 1; b <= 9; b++) printf("%d*%d=%d ", a, b, a * b);
        printf("\n");
    }
    return 0;
}
