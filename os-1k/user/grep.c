/* grep.c: prints the lines of each FILE (its input without one) that contain WORD, a fixed
 * string; with several files, each line after its file's name. Status 0 if a line matched. */
#include "ulib.h"

static int contains(const char *line, const char *word) {
    size_t n = strlen(word);
    for (; *line; line++)
        if (!strncmp(line, word, n)) return 1;
    return n == 0;
}

static int grep(int fd, const char *word, const char *name) {
    char line[512];
    int found = 0;
    while (getline(fd, line, sizeof line) >= 0) {
        if (!contains(line, word)) continue;
        found = 1;
        if ((name ? printf("%s:%s\n", name, line) : printf("%s\n", line)) < 0) break;
    }
    return found;
}

int main(int argc, char **argv) {
    int found = 0;
    if (argc < 2) {
        dprintf(2, "usage: grep WORD [FILE...]: the lines that contain WORD\n");
        return 2;
    }
    if (argc == 2) return !grep(0, argv[1], NULL);
    for (int i = 2; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        if (fd < 0) {
            dprintf(2, "grep: %s: %s\n", argv[i], strerror(fd));
            return 2;
        }
        found |= grep(fd, argv[1], argc > 3 ? argv[i] : NULL);
        close(fd);
    }
    return !found;
}
