/*
 * fs.c: a read-only file system: a ustar archive built by build.rs and linked into the kernel.
 * Reference: POSIX.1-1988 "ustar" format (pax(1) in IEEE Std 1003.1): each file is a 512-byte
 * header (name, size in octal ASCII, type) followed by its data padded to 512 bytes; two zero
 * blocks end the archive. No allocation, no copying: a file is a pointer into the archive.
 */
#include "kernel.h"

extern const char fs_archive[], fs_archive_end[];

struct ustar_header {
    char name[100], mode[8], uid[8], gid[8], size[12], mtime[12], checksum[8];
    char type, linkname[100], magic[6], version[2];
};

static size_t octal(const char *s, size_t n) {
    size_t v = 0;
    for (; n && *s >= '0' && *s <= '7'; n--, s++) v = v * 8 + (size_t)(*s - '0');
    return v;
}

/* The index-th regular file: its name, data and size; 0 past the end. */
static int file_at(int index, const char **name, const char **data, size_t *size) {
    const char *p = fs_archive;
    while (p + 512 <= fs_archive_end && p[0]) {
        const struct ustar_header *h = (const void *)p;
        size_t n = octal(h->size, sizeof h->size);
        if ((h->type == '0' || h->type == 0) && index-- == 0) {
            *name = h->name;
            *data = p + 512;
            *size = n;
            return 1;
        }
        p += 512 + ((n + 511) & ~511UL);
    }
    return 0;
}

int fs_entry(int index, const char **name, size_t *size) {
    const char *data;
    return index >= 0 && file_at(index, name, &data, size);
}

const char *fs_find(const char *want, size_t *size) {
    const char *name, *data;
    for (int i = 0; file_at(i, &name, &data, size); i++)
        if (strcmp(name, want) == 0) return data;
    return NULL;
}

int fs_init(void) {
    const char *name, *data;
    size_t size;
    int n = 0;
    for (; file_at(n, &name, &data, &size); n++)
        kprintf("  file: %s (%lu bytes)\n", name, size);
    kprintf("Filesystem initialized: %d files in the archive\n", n);
    return n;
}
