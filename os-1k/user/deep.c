/* deep.c: a recursion 100 calls deep, about 50 KiB of stack: more than the two pages a process
 * starts with. Until the kernel grows stacks on demand (docs/labs/04-lazy-stack.md), the first
 * touch of the page below them is a page fault in ring 3, and the kernel kills the program. */
#include "ulib.h"

static int down(int n) {
    volatile char frame[480];       /* each call's stack frame: a little over 512 bytes */
    frame[0] = (char)n;
    if (n == 0) return 0;
    return down(n - 1) + (frame[0] == (char)n ? 1 : 0);
}

int main(void) {
    printf("deep: going 100 calls down\n");
    int n = down(100);
    printf("deep: %d calls down and back up\n", n);
    return 0;
}
