/*
 * block.c: the block layer: the disk as numbered 512-byte sectors, read and written whole,
 * whichever driver holds the disk. The file system (fs.c) sees only block_read, block_write,
 * block_flush and block_writable.
 *
 * Two drivers. The virtio-blk disk, when the machine has one (virtio.c; mini-kvm always gives
 * the 1K OS one), and otherwise the disk image build.rs linked into the kernel: what the OS
 * boots from under `qemu-system-x86_64 -kernel`, read-only, so that writes fail and programs
 * say "read-only file system". The linked image stops at its last non-zero byte; the sectors
 * after it, up to the size in its superblock, read as zeros. The boot log says which driver
 * the file system is on.
 */
#include "kernel.h"
#include "fs.h"

extern const uint8_t fs_image[], fs_image_end[];

#define SECTOR FS_SECTOR_SIZE

static int linked_rw(uint64_t sector, void *buf, uint32_t count, int write) {
    if (write) return -1;
    uint8_t *p = buf;
    for (uint64_t at = sector * SECTOR; count--; at += SECTOR, p += SECTOR) {
        if (at < (uint64_t)(fs_image_end - fs_image)) memcpy(p, fs_image + at, SECTOR);
        else memset(p, 0, SECTOR);
    }
    return 0;
}

static int linked_flush(void) { return 0; }

/* The driver in use. */
static struct {
    const char *name;
    uint64_t sectors;             /* the file system's, or the device's if it is smaller */
    int writable;
    int (*rw)(uint64_t sector, void *buf, uint32_t count, int write);
    int (*flush)(void);
} disk;

void block_init(void) {
    uint64_t fs_sectors = FS_BLOCKS * FS_SECTORS_PER_BLOCK;
    if (virtio_init(&disk.sectors, &disk.writable) == 0) {
        disk.name = "the virtio-blk disk";
        disk.rw = virtio_rw;
        disk.flush = virtio_flush;
        if (disk.sectors > fs_sectors) disk.sectors = fs_sectors;
        return;
    }
    disk.name = "the image linked into the kernel (read-only)";
    disk.sectors = fs_sectors;
    disk.writable = 0;
    disk.rw = linked_rw;
    disk.flush = linked_flush;
}

const char *block_name(void) { return disk.name; }
int block_writable(void) { return disk.writable; }

/* Reads `count` sectors from `sector` on into `buf`: 0, or -1 on an I/O error. */
int block_read(uint64_t sector, void *buf, uint32_t count) {
    if (sector >= disk.sectors || count > disk.sectors - sector) return -1;
    return disk.rw(sector, buf, count, 0);
}

/* Writes `count` sectors: 0 once the device has them, or -1. Each sector is written whole or
 * not at all, the one promise the file system relies on; which written sectors a power cut
 * would keep is only certain after block_flush. */
int block_write(uint64_t sector, const void *buf, uint32_t count) {
    if (!disk.writable || sector >= disk.sectors || count > disk.sectors - sector) return -1;
    return disk.rw(sector, (void *)buf, count, 1);
}

/* Every sector written so far is on the disk, not in a cache that a power cut would empty. */
int block_flush(void) { return disk.flush(); }
