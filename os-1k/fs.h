/*
 * fs.h: the 1K OS file system as it lies on the disk. One header for every reader: the kernel
 * (fs.c), os-1k/build.rs (which makes the image, reading the numbers below from this file)
 * and mini-kvm (which checks FS_MAGIC and FS_VERSION before it gives a disk to the OS).
 *
 * The disk is 4 MiB: 8192 sectors of 512 bytes, grouped in 1024 blocks of 4 KiB (8 sectors
 * each; block b starts at sector 8 * b). All numbers are little-endian.
 *
 *   block 0        the superblock, in its first sector (the other 7 are zero)
 *   blocks 1-8     the inode table: 64 inodes, one per sector (inode i is sector 8 + i)
 *   blocks 9-1023  file data, 4 KiB per block
 *
 * There is one directory, and the inode table is it: an inode holds its file's name. A sector
 * whose first byte is 0 is a free inode. Free blocks are not recorded anywhere: a block is free
 * when no inode names it, and the kernel works that out when it mounts the disk.
 *
 * Crash safety rests on one property of the disk: a 512-byte sector is written whole or not
 * at all. A file changes only by rewriting its inode sector, and everything that inode names
 * is on the disk before that write starts (copy-on-write: new data goes to free blocks, never
 * over data an inode names, and a FLUSH before the inode's write). So whenever the machine
 * stops, each inode on the disk is its old or its new version, and each names complete data.
 * Unlinking zeroes the inode's sector.
 */
#ifndef FS_H
#define FS_H

#define FS_MAGIC        0x53464B31    /* the bytes "1KFS" at offset 0 of sector 0 */
#define FS_VERSION      1             /* this layout; a disk of another version is refused */
#define FS_SECTOR_SIZE  512
#define FS_BLOCK_SIZE   4096
#define FS_BLOCKS       1024          /* 4 MiB */
#define FS_INODE_START  1             /* the inode table's first block */
#define FS_INODES       64            /* the most files the disk holds */
#define FS_DATA_START   9             /* the first data block */
#define FS_NAME_MAX     28            /* a name's bytes, its terminating NUL included */
#define FS_DIRECT       120           /* blocks an inode names: a file holds 480 KiB at most */
#define FS_WRITE_MAX    4096          /* the most one write() call changes (a short write
                                         beyond): each call commits with one inode write */

#define FS_SECTORS_PER_BLOCK (FS_BLOCK_SIZE / FS_SECTOR_SIZE)
#define FS_FILE_MAX     (FS_DIRECT * FS_BLOCK_SIZE)

/* Sector 0. The kernel mounts a disk only if every field is the value above. */
struct fs_super {
    uint32_t magic;         /* offset 0:  FS_MAGIC */
    uint32_t version;       /* offset 4:  FS_VERSION */
    uint32_t sectors;       /* offset 8:  FS_BLOCKS * FS_SECTORS_PER_BLOCK */
    uint32_t block_size;    /* offset 12: FS_BLOCK_SIZE */
    uint32_t blocks;        /* offset 16: FS_BLOCKS */
    uint32_t inode_start;   /* offset 20: FS_INODE_START */
    uint32_t inodes;        /* offset 24: FS_INODES */
    uint32_t data_start;    /* offset 28: FS_DATA_START */
};

/* One inode: exactly one sector, so that writing it is atomic. */
struct fs_inode {
    char name[FS_NAME_MAX];         /* offset 0: NUL-terminated; "" = a free inode */
    uint32_t size;                  /* offset 28: bytes */
    uint32_t block[FS_DIRECT];      /* offset 32: data block of bytes [4096 i, 4096 (i + 1)) */
};
#endif
