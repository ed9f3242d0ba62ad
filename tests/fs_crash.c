/*
 * fs_crash.c: the 1K OS file system (os-1k/fs.c, compiled for the host) on a disk in memory
 * that keeps a log of every sector written; tests/os_1k_fs.rs builds and runs it.
 *
 * A workload of creations, writes, appends, overwrites, truncations and unlinks runs once on
 * the disk image build.rs made, recording what every file holds before and after each call.
 * Then, for every K from 0 to the number of sector writes, a child process mounts the image
 * with the first K writes of the log applied: the disk of a machine stopped right after its
 * Kth sector write (fs.h: a sector is written whole or not at all, nothing more is assumed).
 * Each must mount without a damaged inode, every file must hold what it held either before or
 * after the call that the stop interrupted (all files the same side), and a file written on
 * the mounted disk must leave the others as they were (the free blocks found at mount are
 * really free). Last, an image of another format version must be refused, with the reason.
 */
#include "kernel.h"
#include "fs.h"

/* The C library, declared by hand: lib.h's string functions come from os-1k/lib.c. */
int printf(const char *fmt, ...);
int vprintf(const char *fmt, va_list ap);
void exit(int status) __attribute__((noreturn));
void *malloc(size_t n);
int open(const char *path, int flags, ...);
long read(int fd, void *buf, size_t n);
int fork(void);
int waitpid(int pid, int *status, int options);
int memcmp(const void *a, const void *b, size_t n);
int fflush(void *stream);

#define DISK_BYTES (FS_BLOCKS * FS_BLOCK_SIZE)
#define MAX_LOG 4096
#define MAX_OPS 32

static uint8_t image[DISK_BYTES];          /* the image as build.rs made it */
static uint8_t disk[DISK_BYTES];           /* the disk fs.c sees */
static uint32_t log_sector[MAX_LOG];
static uint8_t (*log_data)[FS_SECTOR_SIZE];
static int nlog, logging = 1, damaged;

/* ---- What fs.c needs from the rest of the kernel. ---- */

void acquire(struct spinlock *lk) { lk->locked = 1; }
void release(struct spinlock *lk) { lk->locked = 0; }
void sleep_on(void *chan, struct spinlock *lk) { (void)chan, (void)lk; }
void wakeup(void *chan) { (void)chan; }
const char *block_name(void) { return "a disk in memory"; }
int block_writable(void) { return 1; }
int block_flush(void) { return 0; }

void kprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    if (strncmp(fmt, "fs: inode", 9) == 0) damaged = 1;
    if (strncmp(fmt, "File system:", 12) != 0) vprintf(fmt, ap);
    va_end(ap);
}

void panic(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    printf("panic: ");
    vprintf(fmt, ap);
    printf("\n");
    va_end(ap);
    exit(3);
}

int block_read(uint64_t sector, void *buf, uint32_t count) {
    if ((sector + count) * FS_SECTOR_SIZE > DISK_BYTES) return -1;
    memcpy(buf, disk + sector * FS_SECTOR_SIZE, count * FS_SECTOR_SIZE);
    return 0;
}

int block_write(uint64_t sector, const void *buf, uint32_t count) {
    if ((sector + count) * FS_SECTOR_SIZE > DISK_BYTES) return -1;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *data = (const uint8_t *)buf + i * FS_SECTOR_SIZE;
        memcpy(disk + (sector + i) * FS_SECTOR_SIZE, data, FS_SECTOR_SIZE);
        if (!logging) continue;
        if (nlog == MAX_LOG) panic("the workload wrote more than %d sectors", MAX_LOG);
        log_sector[nlog] = (uint32_t)(sector + i);
        memcpy(log_data[nlog++], data, FS_SECTOR_SIZE);
    }
    return 0;
}

/* ---- The files, as one string: "name size bytes..." for each, in directory order. ---- */

static char *state(size_t *len) {
    static char name[FS_NAME_MAX];
    char *s = malloc(DISK_BYTES), *p = s;
    uint32_t size;
    for (int i = 0; fs_dirent(i, name, &size); i++) {
        int ino = fs_lookup(name);
        memcpy(p, name, strlen(name) + 1);
        p += strlen(name) + 1;
        memcpy(p, &size, sizeof size);
        p += sizeof size;
        if (ino < 0 || fs_read(ino, p, 0, size) != (ssize_t)size) panic("%s: unreadable", name);
        p += size;
    }
    *len = (size_t)(p - s);
    return s;
}

static int same(const char *a, size_t alen, const char *b, size_t blen) {
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* ---- The workload: one file system call per step. ---- */

static char *before[MAX_OPS], *after[MAX_OPS];
static size_t before_len[MAX_OPS], after_len[MAX_OPS];
static int first_write[MAX_OPS], last_write[MAX_OPS], nops;
static uint8_t data[3 * FS_BLOCK_SIZE];

static void step(const char *what, ssize_t got, ssize_t want) {
    if (got != want) panic("%s returned %ld, not %ld", what, (long)got, (long)want);
    last_write[nops] = nlog;
    after[nops] = state(&after_len[nops]);
    nops++;
    before[nops] = after[nops - 1], before_len[nops] = after_len[nops - 1];
    first_write[nops] = nlog;
}

static const uint8_t *pattern(int seed) {
    for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)(seed * 31 + i * 7 + i / 251);
    return data;
}

static void workload(void) {
    before[0] = state(&before_len[0]);
    first_write[0] = 0;
    int one = fs_create("one");
    step("create one", one >= 0, 1);
    step("write 100 bytes", fs_write(one, pattern(1), 0, 100), 100);
    /* 5000 asked, 4096 taken (FS_WRITE_MAX): the end of block 0 and the start of block 1. */
    step("append past a block", fs_write(one, pattern(2), 100, 5000), FS_WRITE_MAX);
    step("overwrite the middle", fs_write(one, pattern(3), 50, 200), 200);
    int two = fs_create("two");
    step("create two", two >= 0, 1);
    step("write a block", fs_write(two, pattern(4), 0, 4096), 4096);
    step("write the second", fs_write(two, pattern(5), 4096, 4096), 4096);
    step("write a third, part", fs_write(two, pattern(6), 8192, 3000), 3000);
    step("truncate one", fs_truncate(one), 0);
    step("write one again", fs_write(one, pattern(7), 0, 10), 10);
    step("unlink two", fs_unlink("two"), 0);
    int readme = fs_lookup("readme.txt");
    step("append to readme.txt", fs_write(readme, pattern(8), fs_size(readme), 30), 30);
    step("unlink motd", fs_unlink("motd"), 0);
    int three = fs_create("three");
    step("create three", three >= 0, 1);
    step("write three (freed blocks)", fs_write(three, pattern(9), 0, 4096), 4096);
    step("rewrite three", fs_write(three, pattern(10), 1000, 3500), 3500);
}

/* ---- A stop after the first k sector writes. ---- */

static void check(int k) {
    memcpy(disk, image, DISK_BYTES);
    for (int i = 0; i < k; i++)
        memcpy(disk + (uint64_t)log_sector[i] * FS_SECTOR_SIZE, log_data[i], FS_SECTOR_SIZE);
    logging = 0;
    fs_init();
    if (damaged) panic("stop after write %d: a damaged inode", k);
    int op = 0;
    while (op + 1 < nops && first_write[op + 1] <= k) op++;
    size_t len;
    char *s = state(&len);
    if (!same(s, len, before[op], before_len[op]) && !same(s, len, after[op], after_len[op]))
        panic("stop after write %d (in step %d): the files are neither before nor after it", k,
              op + 1);
    /* The free blocks are free: a new file of three blocks leaves the others alone. */
    int z = fs_create("zz");
    if (z < 0 || fs_write(z, pattern(99), 0, 4096) != 4096 ||
        fs_write(z, pattern(98), 4096, 4096) != 4096 || fs_write(z, pattern(97), 8192, 100) != 100)
        panic("stop after write %d: cannot write a new file", k);
    if (fs_unlink("zz") < 0) panic("stop after write %d: cannot unlink", k);
    size_t len2;
    char *s2 = state(&len2);
    if (!same(s, len, s2, len2)) panic("stop after write %d: a new file changed the others", k);
    exit(0);
}

static int child(void (*fn)(int), int arg) {
    fflush(NULL);                              /* or the child prints it again */
    int pid = fork(), status = 0;
    if (pid == 0) fn(arg);
    if (pid < 0 || waitpid(pid, &status, 0) != pid) panic("fork or wait failed");
    return (status & 0x7f) ? -1 : (status >> 8) & 0xff;
}

static void mount_other_version(int version) {
    memcpy(disk, image, DISK_BYTES);
    memcpy(disk + 4, &version, 4);
    fs_init();
    exit(0);
}

int main(int argc, char **argv) {
    int fd = argc == 2 ? open(argv[1], O_RDONLY) : -1;
    if (fd < 0 || read(fd, image, DISK_BYTES) != DISK_BYTES) panic("usage: fs_crash IMAGE");
    log_data = malloc(MAX_LOG * FS_SECTOR_SIZE);
    memcpy(disk, image, DISK_BYTES);
    fs_init();
    workload();
    for (int k = 0; k <= nlog; k++)
        if (child(check, k) != 0) return 1;
    printf("%d steps, %d sector writes: the disk mounts after a stop at each, every file before "
           "or after its step\n", nops, nlog);
    if (child((void (*)(int))mount_other_version, FS_VERSION + 1) != 3) return 1;
    return 0;
}
