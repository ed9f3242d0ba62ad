/* cat.c: copies each FILE (its input without one) to its output, 8 KiB at a time: more than a
 * file takes in one write (FS_WRITE_MAX, 4 KiB), so write_all's loop is needed. */
#include "ulib.h"

static int copy(int fd) {
    static char buf[8192];
    long n;
    while ((n = read(fd, buf, sizeof buf)) > 0)
        if (write_all(1, buf, (size_t)n) < 0) return -1;    /* nobody reads: stop */
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 1) return copy(0) < 0;
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) {
            dprintf(2, "cat: %s: %s\n", argv[i], strerror(fd));
            return 1;
        }
        int r = copy(fd);
        close(fd);
        if (r < 0) return 1;
    }
    return 0;
}
