/*
 * block.c: the block layer: the disk as numbered 512-byte sectors, read and written whole,
 * whichever driver holds the disk. The file system (fs.c) sees only block_read, block_write
 * and block_writable.
 *
 * Two drivers. A virtio-blk device, when the machine has one (the disk mini-kvm gives the OS;
 * virtio 1.2, section 5.2), and otherwise the disk image build.rs linked into the kernel: what
 * the OS boots from under `qemu-system-x86_64 -kernel`, read-only. The linked image stops at
 * its last non-zero byte; the sectors after it, up to the size in its superblock, read as
 * zeros. Only the file system calls these, under its lock (fs.c): one call at a time, on any
 * CPU, so the written copies need no lock of their own.
 */
#include "kernel.h"
#include "fs.h"

extern const uint8_t fs_image[], fs_image_end[];

#define SECTOR FS_SECTOR_SIZE
#define DISK_SECTORS (FS_BLOCKS * FS_SECTORS_PER_BLOCK)

/*
 * THE SWITCH. Until mini-kvm gives the OS a virtio-blk disk, the linked image is writable in
 * RAM, so that files can be written (for the length of a run) on every VMM. Written sectors
 * go to a copy of their 4 KiB page of the image, made on the first write to it. Set it to 0
 * once the virtio-blk disk exists: the linked image is then read-only, as the rest of the OS
 * expects of it (writes fail, and programs say "read-only file system").
 */
#define LINKED_IMAGE_WRITABLE 1

static uint8_t *copies[FS_BLOCKS];     /* the written pages of the image (kernel addresses) */

/* The linked image's sector `s` (of DISK_SECTORS): its copy, its bytes in the kernel, or
 * NULL for one of the zero sectors after them. */
static const uint8_t *linked_sector(uint64_t s) {
    uint64_t page = s / FS_SECTORS_PER_BLOCK, at = s * SECTOR;
    if (copies[page]) return copies[page] + at % FS_BLOCK_SIZE;
    if (at < (uint64_t)(fs_image_end - fs_image)) return fs_image + at;
    return NULL;
}

static int linked_rw(uint64_t sector, void *buf, uint32_t count, int write) {
    uint8_t *p = buf;
    for (uint32_t i = 0; i < count; i++, p += SECTOR) {
        uint64_t s = sector + i, page = s / FS_SECTORS_PER_BLOCK;
        const uint8_t *src = linked_sector(s);
        if (!write) {
            if (src) memcpy(p, src, SECTOR);
            else memset(p, 0, SECTOR);
            continue;
        }
        if (!copies[page]) {                   /* first write to this page: copy it */
            uint64_t pa = page_alloc();        /* zeroed */
            if (!pa) return -1;
            copies[page] = P2V(pa);
            for (uint32_t k = 0; k < FS_SECTORS_PER_BLOCK; k++) {
                const uint8_t *old = linked_sector(page * FS_SECTORS_PER_BLOCK + k);
                if (old) memcpy(copies[page] + k * SECTOR, old, SECTOR);
            }
        }
        memcpy(copies[page] + s % FS_SECTORS_PER_BLOCK * SECTOR, p, SECTOR);
    }
    return 0;
}

/* The driver in use. */
static struct {
    const char *name;
    int writable;
    int (*rw)(uint64_t sector, void *buf, uint32_t count, int write);
} disk;

void block_init(void) {
    disk.name = LINKED_IMAGE_WRITABLE ? "the image linked into the kernel (writes kept in RAM)"
                                      : "the image linked into the kernel (read-only)";
    disk.writable = LINKED_IMAGE_WRITABLE;
    disk.rw = linked_rw;
}

const char *block_name(void) { return disk.name; }
int block_writable(void) { return disk.writable; }

/* Reads `count` sectors from `sector` on into `buf`: 0, or -1 on an I/O error. */
int block_read(uint64_t sector, void *buf, uint32_t count) {
    if (sector >= DISK_SECTORS || count > DISK_SECTORS - sector) return -1;
    return disk.rw(sector, buf, count, 0);
}

/* Writes `count` sectors; when it returns 0 they are on the disk. Each sector is written
 * whole or not at all, the one promise the file system relies on. */
int block_write(uint64_t sector, const void *buf, uint32_t count) {
    if (!disk.writable || sector >= DISK_SECTORS || count > DISK_SECTORS - sector) return -1;
    return disk.rw(sector, (void *)buf, count, 1);
}
