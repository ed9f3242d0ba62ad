/* wc.c: counts the lines, words and bytes of each FILE (its input without one). */
#include "ulib.h"

static void count(int fd, const char *name) {
    char buf[512];
    long n, lines = 0, words = 0, bytes = 0;
    int in_word = 0;
    while ((n = read(fd, buf, sizeof buf)) > 0) {
        bytes += n;
        for (long i = 0; i < n; i++) {
            char c = buf[i];
            if (c == '\n') lines++;
            if (c == ' ' || c == '\n' || c == '\t' || c == '\r') in_word = 0;
            else if (!in_word) in_word = 1, words++;
        }
    }
    printf("%ld %ld %ld%s%s\n", lines, words, bytes, name ? " " : "", name ? name : "");
}

int main(int argc, char **argv) {
    if (argc == 1) count(0, NULL);
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) {
            dprintf(2, "wc: %s: %s\n", argv[i], strerror(fd));
            return 1;
        }
        count(fd, argv[i]);
        close(fd);
    }
    return 0;
}
