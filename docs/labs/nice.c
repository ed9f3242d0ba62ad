/* nice.c: the program of lab 6 (docs/labs/06-nice.md); the lab copies it to os-1k/user/. It
 * starts two spinners that never yield, L at nice 5 and H at nice 0. A scheduler that runs the
 * lowest nice value first gives H the CPU until it ends, then L; round robin interleaves their
 * letters. This process first makes itself the most favoured (nice -1), so that no spinner
 * runs before both are set up. */
#include "ulib.h"

int main(void) {
    if (nice(0, -1) < 0) {
        printf("nice: the kernel has no nice system call (%d returned -1)\n", SYS_NICE);
        return 1;
    }
    char *l_argv[] = {"spin", "L", NULL}, *h_argv[] = {"spin", "H", NULL};
    int low = spawn("spin", l_argv, NULL);
    int high = spawn("spin", h_argv, NULL);
    if (low < 0 || high < 0 || nice(low, 5) < 0) {
        printf("nice: cannot start the spinners\n");
        return 1;
    }
    printf("nice: L (pid %d) at nice 5, H (pid %d) at nice 0\n", low, high);
    wait(low);
    wait(high);
    printf("\nnice: refused: nice 11 -> %d, no such process -> %d\n", nice(0, 11), nice(99, 0));
    return 0;
}
