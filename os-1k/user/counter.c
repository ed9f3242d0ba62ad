/* counter.c: menu 2, counting from 0 to 9. */
#include "ulib.h"

int main(void) {
    printf("\n=== Counter 0-9 ===\n");
    for (int i = 0; i <= 9; i++) printf("%d ", i);
    printf("\n");
    return 0;
}
