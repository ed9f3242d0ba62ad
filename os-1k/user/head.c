/* head.c: the first N lines (10 without -n) of FILE (its input without one). */
#include "ulib.h"

int main(int argc, char **argv) {
    long n = 10;
    int i = 1, fd = 0;
    if (i < argc && !strcmp(argv[i], "-n")) {
        if (i + 1 == argc || number(argv[i + 1], &n) < 0 || n < 0) i = argc + 1;
        else i += 2;
    }
    if (i > argc || argc - i > 1) {
        dprintf(2, "usage: head [-n N] [FILE]: the first N lines (10)\n");
        return 1;
    }
    if (i < argc && (fd = open(argv[i], O_RDONLY)) < 0) {
        dprintf(2, "head: %s: %s\n", argv[i], strerror(fd));
        return 1;
    }
    char line[512];
    for (long k = 0; k < n && getline(fd, line, sizeof line) >= 0; k++)
        if (printf("%s\n", line) < 0) return 1;
    return 0;
}
