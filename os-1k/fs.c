/*
 * fs.c: the file system: one directory of files on the disk the block layer gives (block.c).
 * The layout, and why a stop never tears a file, are in fs.h.
 *
 * Mounting reads the superblock and the whole inode table into memory (64 inodes, 32 KiB);
 * from then on the table in memory is the truth, and each change to a file reaches the disk
 * as one inode write. Which blocks are free is worked out at mount, from the inodes, and kept
 * in memory only: there is no bitmap on the disk to be torn.
 *
 * A write call, copy-on-write (fs_write):
 *   1. every block the call changes is written, with its new bytes, to a free block (the old
 *      bytes it keeps are read first); no block an inode names is ever written;
 *   2. a FLUSH: those blocks are on the disk, not in a cache that could lose them;
 *   3. the file's inode, naming the new blocks and the new size, is written: one sector, the
 *      commit point;
 *   4. the blocks that only the old inode named are free once a FLUSH has made the commit
 *      durable: the next call's step 2 (until then a power cut could bring the old inode back,
 *      naming them).
 * A stop before 3 leaves the old inode and the old data; from 3 on, the new ones. A call
 * changes at most FS_WRITE_MAX bytes (a short write beyond), so that each commits whole.
 * Truncation and unlinking commit with one inode write too, and free their blocks as step 4.
 *
 * Only one file system call runs at a time, on any CPU (a sleeping lock, as xv6's): a driver
 * that waits for its disk lets other processes run meanwhile, and they must not see half a
 * change. The lock is a flag, `busy`, that the spinlock `fs` guards.
 */
#include "kernel.h"
#include "fs.h"
#include "user/syscall.h"

#define BS FS_BLOCK_SIZE
#define SPB FS_SECTORS_PER_BLOCK

static struct fs_inode inodes[FS_INODES];   /* the inode table, as on the disk */
static int refs[FS_INODES];                 /* open file descriptions of each inode */
static uint8_t used[FS_BLOCKS / 8];         /* a bit per block: an inode names it */
static uint32_t freed[FS_BLOCKS];           /* blocks no inode names, free after a flush */
static int nfreed;
static uint8_t buf[BS];                     /* the block in transit (under the lock) */
static int busy, waiting;                   /* the lock: a call runs; others wait for it */
static struct spinlock fs_lock = SPINLOCK("fs");

static void lock(void) {
    acquire(&fs_lock);
    while (busy) {
        waiting = 1;
        sleep_on(&busy, &fs_lock);
    }
    busy = 1;
    release(&fs_lock);
}

static void unlock(void) {
    acquire(&fs_lock);
    busy = 0;
    if (waiting) {                             /* a wakeup scans every process: only if needed */
        waiting = 0;
        wakeup(&busy);
    }
    release(&fs_lock);
}

static uint32_t nblocks(uint32_t size) { return (size + BS - 1) / BS; }
static int is_used(uint32_t b) { return used[b / 8] >> (b % 8) & 1; }

static void mark(uint32_t b, int on) {
    if (on) used[b / 8] |= (uint8_t)(1 << (b % 8));
    else used[b / 8] &= (uint8_t)~(1 << (b % 8));
}

/* A block the last commit stopped naming: free after the next flush (step 4). */
static void free_later(uint32_t b) { freed[nfreed++] = b; }

/* Step 2: what was written is on the disk, and so are the commits before it: the blocks they
 * let go of are free. */
static int flush(void) {
    if (block_flush() < 0) return -EIO;
    while (nfreed) mark(freed[--nfreed], 0);
    return 0;
}

/* A free data block, now marked used; 0 if the disk is full. */
static uint32_t block_alloc(void) {
    for (int again = 0; again < 2; again++) {
        for (uint32_t b = FS_DATA_START; b < FS_BLOCKS; b++) {
            if (!is_used(b)) {
                mark(b, 1);
                return b;
            }
        }
        if (!nfreed || flush() < 0) break;     /* full, but for blocks a flush frees */
    }
    return 0;
}

/* Writes inode `i` as `new` (to the disk if either version has a name: an unlinked file that
 * is still open lives in memory only) and then into the table. The commit of every change. */
static int commit(int i, const struct fs_inode *new) {
    if ((inodes[i].name[0] || new->name[0]) &&
        block_write(FS_INODE_START * SPB + i, new, 1) < 0)
        return -EIO;
    inodes[i] = *new;
    return 0;
}

/* Marks inode `ip`'s blocks used; -1 (nothing marked) if one is out of range or named twice. */
static int claim(const struct fs_inode *ip) {
    uint32_t n = nblocks(ip->size), k = 0;
    if (ip->name[FS_NAME_MAX - 1] || ip->size > FS_FILE_MAX) return -1;
    for (; k < n; k++) {
        uint32_t b = ip->block[k];
        if (b < FS_DATA_START || b >= FS_BLOCKS || is_used(b)) break;
        mark(b, 1);
    }
    if (k == n) return 0;
    while (k--) mark(ip->block[k], 0);
    return -1;
}

/* Mounts the disk: checks the superblock, reads the inode table, finds the free blocks. */
void fs_init(void) {
    struct fs_super *sb = (struct fs_super *)buf;
    if (block_read(0, buf, 1) < 0) panic("fs: cannot read the disk's superblock");
    if (sb->magic != FS_MAGIC)
        panic("fs: the disk holds no 1K OS file system (magic 0x%x, not 0x%x)", sb->magic,
              FS_MAGIC);
    if (sb->version != FS_VERSION)
        panic("fs: the disk's file system is version %u; this kernel reads version %u",
              sb->version, FS_VERSION);
    if (sb->sectors != FS_BLOCKS * SPB || sb->block_size != BS || sb->blocks != FS_BLOCKS ||
        sb->inode_start != FS_INODE_START || sb->inodes != FS_INODES ||
        sb->data_start != FS_DATA_START)
        panic("fs: the disk's superblock does not describe version %u's layout", FS_VERSION);
    if (block_read(FS_INODE_START * SPB, inodes, FS_INODES) < 0)
        panic("fs: cannot read the inode table");
    memset(used, 0, sizeof used);
    memset(refs, 0, sizeof refs);
    nfreed = 0;
    for (uint32_t b = 0; b < FS_DATA_START; b++) mark(b, 1);
    int files = 0;
    for (int i = 0; i < FS_INODES; i++) {
        if (!inodes[i].name[0]) {
            memset(&inodes[i], 0, sizeof inodes[i]);
        } else if (claim(&inodes[i]) < 0) {
            kprintf("fs: inode %d is damaged (its size or a block): left out\n", i);
            memset(&inodes[i], 0, sizeof inodes[i]);
        } else {
            files++;
        }
    }
    uint32_t taken = 0;
    for (uint32_t b = FS_DATA_START; b < FS_BLOCKS; b++) taken += (uint32_t)is_used(b);
    kprintf("File system: %d files, %u KiB of %u KiB in use, on %s\n", files, taken * (BS / 1024),
            (FS_BLOCKS - FS_DATA_START) * (BS / 1024), block_name());
}

/* A path names a file of the one directory: "name" or "/name". */
static const char *file_name(const char *path) {
    while (*path == '/') path++;
    for (const char *p = path; *p; p++)
        if (*p == '/') return NULL;
    return *path && strlen(path) < FS_NAME_MAX ? path : NULL;
}

/* The inode of the file `path`, or -ENOENT (under the lock). */
static int lookup(const char *path) {
    const char *name = file_name(path);
    for (int i = 0; name && i < FS_INODES; i++)
        if (inodes[i].name[0] && !strcmp(inodes[i].name, name)) return i;
    return -ENOENT;
}

int fs_lookup(const char *path) {
    lock();
    int i = lookup(path);
    unlock();
    return i;
}

/* The inode of `path`, made (empty) if there is none. */
int fs_create(const char *path) {
    const char *name = file_name(path);
    lock();                                    /* no other create of the name in between */
    int i = lookup(path), r = i;
    if (i < 0 && !name) r = strlen(path) >= FS_NAME_MAX ? -ENAMETOOLONG : -EINVAL;
    else if (i < 0 && !block_writable()) r = -EROFS;
    else if (i < 0) {
        for (i = 0; i < FS_INODES && (inodes[i].name[0] || refs[i]); i++)
            ;
        struct fs_inode new;
        memset(&new, 0, sizeof new);
        strlcpy(new.name, name, sizeof new.name);
        r = i < FS_INODES ? commit(i, &new) : -ENOSPC;
        if (r == 0) r = i;
    }
    unlock();
    return r;
}

uint32_t fs_size(int i) {
    lock();
    uint32_t size = inodes[i].size;
    unlock();
    return size;
}

/* The index-th file of the directory: its name and size; 0 past the last. */
int fs_dirent(int index, char *name, uint32_t *size) {
    int r = 0;
    lock();
    for (int i = 0; i < FS_INODES && !r; i++) {
        if (!inodes[i].name[0] || index-- > 0) continue;
        strlcpy(name, inodes[i].name, FS_NAME_MAX);
        *size = inodes[i].size;
        r = 1;
    }
    unlock();
    return r;
}

/* Reads up to `n` bytes at `off` into `dst` (kernel memory, or the current process's, checked
 * by the caller); returns the count, 0 at the end of the file. */
ssize_t fs_read(int i, void *dst, uint64_t off, size_t n) {
    lock();
    struct fs_inode *ip = &inodes[i];
    if (off >= ip->size) n = 0;
    else if (n > ip->size - off) n = ip->size - off;
    ssize_t done = 0;
    while ((size_t)done < n) {
        uint64_t at = off + (size_t)done, in = at % BS;
        size_t chunk = BS - in < n - (size_t)done ? BS - in : n - (size_t)done;
        /* Only the sectors the chunk covers. */
        uint64_t first = in / FS_SECTOR_SIZE, last = (in + chunk - 1) / FS_SECTOR_SIZE;
        if (block_read((uint64_t)ip->block[at / BS] * SPB + first, buf + first * FS_SECTOR_SIZE,
                       (uint32_t)(last - first + 1)) < 0) {
            done = done ? done : -EIO;
            break;
        }
        memcpy((char *)dst + done, buf + in, chunk);
        done += (ssize_t)chunk;
    }
    unlock();
    return done;
}

/* Writes `n` bytes (at most FS_WRITE_MAX) at `off` (a write past the end starts at the end),
 * all of them or none: the count written, or -ENOSPC, -EFBIG, -EIO. */
ssize_t fs_write(int i, const void *src, uint64_t off, size_t n) {
    if (!block_writable()) return -EROFS;
    if (n == 0) return 0;
    if (n > FS_WRITE_MAX) n = FS_WRITE_MAX;
    lock();
    struct fs_inode *ip = &inodes[i], new = *ip;
    if (off > ip->size) off = ip->size;
    if (off >= FS_FILE_MAX) {
        unlock();
        return -EFBIG;
    }
    if (n > FS_FILE_MAX - off) n = FS_FILE_MAX - off;
    uint32_t old_blocks = nblocks(ip->size), first = (uint32_t)(off / BS);
    int r = 0;
    size_t done = 0;
    while (done < n && !r) {                   /* 1. the new blocks, in free space */
        uint64_t at = off + done, in = at % BS;
        uint32_t k = (uint32_t)(at / BS), b = block_alloc();
        size_t chunk = BS - in < n - done ? BS - in : n - done;
        if (!b) {
            r = -ENOSPC;
            break;
        }
        new.block[k] = b;
        if (chunk == BS) {                     /* the whole block is new: nothing to keep */
        } else if (k < old_blocks) {
            if (block_read((uint64_t)ip->block[k] * SPB, buf, SPB) < 0) r = -EIO;
        } else {
            memset(buf, 0, BS);
        }
        memcpy(buf + in, (const char *)src + done, chunk);
        if (!r && block_write((uint64_t)b * SPB, buf, SPB) < 0) r = -EIO;
        done += chunk;
    }
    uint32_t last = (uint32_t)((off + done + BS - 1) / BS);
    /* [tour:commit] */
    if (!r) r = flush();                       /* 2. they are on the disk */
    if (!r) {
        if (off + done > new.size) new.size = (uint32_t)(off + done);
        struct fs_inode old = *ip;
        r = commit(i, &new);                   /* 3. the commit */
        if (!r)                                /* 4. what the old inode named, after a flush */
            for (uint32_t k = first; k < last && k < old_blocks; k++) free_later(old.block[k]);
    }
    /* [/tour:commit] */
    if (r)                                     /* not committed: the new blocks are free */
        for (uint32_t k = first; k < last; k++)
            if (new.block[k] && new.block[k] != ip->block[k]) mark(new.block[k], 0);
    unlock();
    return r ? r : (ssize_t)done;
}

/* Empties the file (O_TRUNC). */
int fs_truncate(int i) {
    if (!block_writable()) return -EROFS;
    lock();
    struct fs_inode new = inodes[i], old = inodes[i];
    new.size = 0;
    memset(new.block, 0, sizeof new.block);
    int r = commit(i, &new);
    if (!r)
        for (uint32_t k = 0; k < nblocks(old.size); k++) free_later(old.block[k]);
    unlock();
    return r;
}

/* Frees inode `i` and its blocks, once it has no name and no open file (under the lock). */
static void reclaim(int i) {
    if (inodes[i].name[0] || refs[i]) return;
    for (uint32_t k = 0; k < nblocks(inodes[i].size); k++) free_later(inodes[i].block[k]);
    memset(&inodes[i], 0, sizeof inodes[i]);
}

/* Removes the name: the inode's sector is zeroed; its blocks stay until the last close. */
int fs_unlink(const char *path) {
    lock();
    int i = lookup(path), r = i < 0 ? i : block_writable() ? 0 : -EROFS;
    if (!r) {
        struct fs_inode gone = inodes[i];
        memset(gone.name, 0, sizeof gone.name);
        if (!(r = commit(i, &gone))) reclaim(i);
    }
    unlock();
    return r;
}

/* An open file description takes (+1) or drops (-1) a reference to inode `i`. */
void fs_ref(int i, int delta) {
    lock();
    refs[i] += delta;
    reclaim(i);
    unlock();
}
