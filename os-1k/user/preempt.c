/* preempt.c: starts two spinners, A and B. Neither yields, so the letters can only interleave
 * because the kernel preempts them on the 100 Hz timer. */
#include "ulib.h"

int main(void) {
    char *a_argv[] = {"spin", "A", NULL}, *b_argv[] = {"spin", "B", NULL};
    printf("preempt: two processes print A and B in busy loops that never yield:\n");
    int a = spawn("spin", a_argv, NULL);
    int b = spawn("spin", b_argv, NULL);
    if (a < 0 || b < 0) {
        printf("preempt: cannot start the spinners\n");
        return 1;
    }
    wait(a);
    wait(b);
    printf("\npreempt: the letters interleave because the timer interrupt switched between them\n");
    return 0;
}
