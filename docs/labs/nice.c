/* nice.c: the program of lab 6 (docs/labs/06-nice.md); the lab copies it to os-1k/user/. It
 * starts two spinners that never yield, L at nice 5 and H at nice 0: copies of itself, run as
 * `nice LETTER`, which wait for a byte on their input and then print LETTER 12 times, 30 ms
 * apart, as spin does. A scheduler that runs the lowest nice value first gives H the CPU
 * until it ends, then L; round robin interleaves their letters. This process first makes
 * itself the most favoured (nice -1), and the spinners wait on a pipe until both are set up:
 * loading a program reads the disk, and while this process waits for it, any spinner already
 * started would run. */
#include "ulib.h"

static int spinner(const char *letter) {
    char go;
    if (read(0, &go, 1) != 1) return 1;
    for (int i = 0; i < 12; i++) {
        if (write(1, letter, 1) < 0) return 1;
        long start = uptime();
        while (uptime() - start < 30)
            for (volatile int n = 0; n < 20000; n++) {
            }
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 2) return spinner(argv[1]);
    if (nice(0, -1) < 0) {
        printf("nice: the kernel has no nice system call (%d returned -1)\n", SYS_NICE);
        return 1;
    }
    int gate[2];
    if (pipe(gate) < 0) {
        printf("nice: no pipe to start the spinners with\n");
        return 1;
    }
    struct spawnattr attr = {{gate[0], 1, 2}, 0, 0};
    char *l_argv[] = {"nice", "L", NULL}, *h_argv[] = {"nice", "H", NULL};
    int low = spawn("nice", l_argv, &attr);
    int high = spawn("nice", h_argv, &attr);
    close(gate[0]);
    if (low < 0 || high < 0 || nice(low, 5) < 0) {
        printf("nice: cannot start the spinners\n");
        return 1;
    }
    printf("nice: L (pid %d) at nice 5, H (pid %d) at nice 0\n", low, high);
    write(gate[1], "go", 2);
    close(gate[1]);
    wait(low);
    wait(high);
    printf("\nnice: refused: nice 11 -> %d, no such process -> %d\n", nice(0, 11), nice(99, 0));
    return 0;
}
