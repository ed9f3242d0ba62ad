/* disktest.c: writes KIB KiB (1024 without it) to the disk and reads them back: the files
 * NAME.0, NAME.1, ... ("disktest" without NAME), 256 KiB each (a file holds 480 KiB at most),
 * written 4 KiB per call (the most one write takes), each byte a function of its file and
 * offset; then each file is read back 4 KiB at a time and compared. `make bench` times it. */
#include "ulib.h"

#define CHUNK 4096
#define FILE_KIB 256

static unsigned char buf[CHUNK], back[CHUNK];

static void fill(unsigned char *p, unsigned seed, long at) {
    for (int i = 0; i < CHUNK; i++, at++) p[i] = (unsigned char)(seed + at * 7 + at / 4093);
}

static int same(const unsigned char *a, const unsigned char *b) {
    for (int i = 0; i < CHUNK; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

int main(int argc, char **argv) {
    long kib = 1024;
    const char *name = argc > 2 ? argv[2] : "disktest";
    if (argc > 3 || (argc > 1 && (number(argv[1], &kib) < 0 || kib < 4 || kib > 2048 || kib % 4)) ||
        strlen(name) > 20) {
        dprintf(2, "usage: disktest [KIB [NAME]]: KIB from 4 to 2048, a multiple of 4\n");
        return 1;
    }
    long files = (kib + FILE_KIB - 1) / FILE_KIB;
    for (int pass = 0; pass < 2; pass++) {
        for (long f = 0; f < files; f++) {
            char path[32] = {0};
            long size = (kib - f * FILE_KIB < FILE_KIB ? kib - f * FILE_KIB : FILE_KIB) * 1024;
            unsigned seed = (unsigned)(name[0] * 31 + f * 101);
            int fd;
            strlcpy(path, name, sizeof path - 2);   /* NAME.f: at most 8 files */
            path[strlen(path)] = '.';
            path[strlen(path)] = (char)('0' + f);
            fd = pass ? open(path, O_RDONLY) : open(path, O_WRONLY | O_CREAT | O_TRUNC);
            if (fd < 0) {
                dprintf(2, "disktest: %s: %s\n", path, strerror(fd));
                return 1;
            }
            for (long at = 0; at < size; at += CHUNK) {
                fill(buf, seed, at);
                long n = pass ? read(fd, back, CHUNK) : write(fd, buf, CHUNK);
                if (n != CHUNK || (pass && !same(buf, back))) {
                    dprintf(2, "disktest: %s at %ld: %s\n", path, at,
                            n < 0 ? strerror((int)n) : pass && n == CHUNK ? "different bytes" : "short");
                    return 1;
                }
            }
            close(fd);
        }
    }
    printf("disktest: %ld KiB in %ld file%s (%s.0%s), written and read back: the same\n", kib,
           files, files > 1 ? "s" : "", name, files > 1 ? " ..." : "");
    return 0;
}
