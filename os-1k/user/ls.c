/* ls.c: the files of the one directory, with their sizes in bytes (or only the NAMEs given). */
#include "ulib.h"

int main(int argc, char **argv) {
    struct dirent d;
    int status = 0;
    for (int i = 0; readdir(i, &d) > 0; i++) {
        int wanted = argc == 1;
        for (int k = 1; k < argc; k++) wanted |= !strcmp(argv[k], d.name);
        if (wanted && printf("%-14s %6u\n", d.name, d.size) < 0) return 1;
    }
    for (int k = 1; k < argc; k++) {
        int fd = open(argv[k], O_RDONLY);
        if (fd >= 0) {
            close(fd);
            continue;
        }
        dprintf(2, "ls: %s: %s\n", argv[k], strerror(fd));
        status = 1;
    }
    return status;
}
