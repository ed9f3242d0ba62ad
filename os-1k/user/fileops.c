/* fileops.c: file operations read from its input, one a line, until `end` or the end of the
 * input: the workload of tests/os_1k_disk.rs's crash test, which kills mini-kvm in the middle.
 *   new F               create F, or empty it (open with O_CREAT | O_TRUNC)
 *   put F OFF LEN SEED  overwrite LEN bytes of F at OFF (the file grows if they go past its end)
 *   add F LEN SEED      append LEN bytes (O_APPEND)
 *   cut F               empty F (O_TRUNC)
 *   rm F                unlink F
 * Byte i of a put's or add's LEN bytes is SEED * 31 + i * 7 + i / 251 (mod 256). The bytes go
 * to write() in one buffer; the kernel takes at most 4 KiB per call, so a longer one is several
 * calls, each a file-system commit of its own. An operation that fails says so and ends it. */
#include "ulib.h"

#define MAX_LEN 16384

static char data[MAX_LEN];

/* The line's words, in place: at most `max`; returns how many. */
static int words(char *line, char **w, int max) {
    int n = 0;
    while (*line && n < max) {
        while (*line == ' ') *line++ = 0;
        if (*line) w[n++] = line;
        while (*line && *line != ' ') line++;
    }
    return n;
}

/* Writes data[0..len) to fd, call after call: 0, or the error. */
static long put_all(int fd, long len) {
    long r = write_all(fd, data, (size_t)len);
    return r < 0 ? r : 0;
}

static long run(int n, char **w) {
    long off = 0, len = 0, seed = 0, r = 0;
    int fd;
    if (n == 2 && !strcmp(w[0], "new")) {
        fd = open(w[1], O_WRONLY | O_CREAT | O_TRUNC);
    } else if (n == 2 && !strcmp(w[0], "cut")) {
        fd = open(w[1], O_WRONLY | O_TRUNC);
    } else if (n == 2 && !strcmp(w[0], "rm")) {
        return unlink(w[1]);
    } else if ((n == 5 && !strcmp(w[0], "put") && !number(w[2], &off) && !number(w[3], &len) &&
                !number(w[4], &seed)) ||
               (n == 4 && !strcmp(w[0], "add") && !number(w[2], &len) && !number(w[3], &seed))) {
        if (len < 0 || len > MAX_LEN || off < 0 || off > MAX_LEN) return -EINVAL;
        for (long i = 0; i < len; i++) data[i] = (char)(seed * 31 + i * 7 + i / 251);
        fd = open(w[1], n == 5 ? O_RDWR : O_WRONLY | O_APPEND);
        for (long skip = off; fd >= 0 && skip > 0 && r >= 0; skip -= r) {   /* to OFF */
            static char sink[MAX_LEN];
            r = read(fd, sink, (size_t)skip);
            if (r == 0) r = -EINVAL;               /* OFF past the end */
        }
        if (fd >= 0 && r >= 0) r = put_all(fd, len);
    } else {
        return -EINVAL;
    }
    if (fd < 0) return fd;
    close(fd);
    return r;
}

int main(void) {
    char line[LINE_MAX], *w[6];
    while (readline(line, sizeof line) >= 0) {
        int n = words(line, w, 6);
        if (n == 1 && !strcmp(w[0], "end")) break;
        long r = n ? run(n, w) : 0;
        if (r < 0) {
            dprintf(2, "fileops: %s %s: %s\n", n ? w[0] : "", n > 1 ? w[1] : "", strerror((int)r));
            return 1;
        }
    }
    return 0;
}
