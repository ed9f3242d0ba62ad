/* rm.c: removes each FILE. */
#include "ulib.h"

int main(int argc, char **argv) {
    int status = 0;
    if (argc < 2) {
        dprintf(2, "usage: rm FILE...\n");
        return 1;
    }
    for (int i = 1; i < argc; i++) {
        int r = unlink(argv[i]);
        if (r < 0) {
            dprintf(2, "rm: %s: %s\n", argv[i], strerror(r));
            status = 1;
        }
    }
    return status;
}
