/* kill.c: ends each process PID (at its next return to ring 3). */
#include "ulib.h"

int main(int argc, char **argv) {
    int status = 0;
    if (argc < 2) {
        dprintf(2, "usage: kill PID...\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        long pid;
        int r = number(argv[i], &pid) < 0 ? -ESRCH : kill((int)pid);
        if (r < 0) {
            dprintf(2, "kill: %s: %s\n", argv[i], strerror(r));
            status = 1;
        }
    }
    return status;
}
