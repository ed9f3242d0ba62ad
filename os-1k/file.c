/*
 * file.c: open files and file descriptors, and the system calls on them; xv6's file.c and
 * sysfile.c in one.
 *
 * A file descriptor is a small number, an index into the process's `ofile` table. Each entry
 * points to an open file description (struct file, in the kernel's table `files`): what is
 * open (the console, a file on the disk, one end of a pipe), how (read, write, append), and
 * for a disk file the offset of the next read or write. dup() and spawn() make more
 * descriptors point to the same description, which then counts them in `ref`: they share one
 * offset, and the description (for a pipe: that end) closes with the last of them.
 *
 * Every user pointer is checked against the process's page tables before the kernel reads or
 * writes through it, so a bad one is -EFAULT, never a kernel fault.
 *
 * The spinlock `files` guards the table (the references). A description's offset is shared by
 * every descriptor that points to it, perhaps in processes on two CPUs: a read or write of a
 * file holds the description's own sleeping lock (`busy`) from the offset it starts at to the
 * offset it leaves. A process's descriptor table is its own: only it changes it.
 */
#include "kernel.h"
#include "fs.h"

static struct file files[NFILE];
static struct spinlock files_lock = SPINLOCK("files");
static struct file *console;              /* the console's one description (0, 1, 2) */

struct file *file_alloc(void) {
    acquire(&files_lock);
    for (int i = 0; i < NFILE; i++) {
        if (files[i].ref) continue;
        memset(&files[i], 0, sizeof files[i]);
        files[i].ref = 1;
        release(&files_lock);
        return &files[i];
    }
    release(&files_lock);
    return NULL;
}

struct file *file_dup(struct file *f) {
    acquire(&files_lock);
    f->ref++;
    release(&files_lock);
    return f;
}

void file_close(struct file *f) {
    acquire(&files_lock);
    if (--f->ref > 0) {
        release(&files_lock);
        return;
    }
    struct file gone = *f;                     /* the slot is free once `type` is cleared */
    f->type = FD_NONE;
    release(&files_lock);
    if (gone.type == FD_INODE) fs_ref(gone.ino, -1);
    else if (gone.type == FD_PIPE) pipe_close(gone.pipe, gone.writable);
}

struct file *file_console(void) {
    if (!console) {                            /* at boot, on one CPU */
        console = file_alloc();
        if (!console) panic("no file for the console");
        console->type = FD_CONSOLE;
        console->readable = console->writable = 1;
        console->ref = 0;                      /* file_dup below makes it one */
    }
    return file_dup(console);
}

/* The description's sleeping lock: one read or write at a time moves its offset. `busy` is
 * 1 while one does, 2 when another waits for it. */
static void offset_lock(struct file *f) {
    acquire(&files_lock);
    while (f->busy) {
        f->busy = 2;
        sleep_on(&f->busy, &files_lock);
    }
    f->busy = 1;
    release(&files_lock);
}

static void offset_unlock(struct file *f) {
    acquire(&files_lock);
    if (f->busy == 2) wakeup(&f->busy);
    f->busy = 0;
    release(&files_lock);
}

int fd_alloc(struct file *f) {
    for (int fd = 0; fd < NOFILE; fd++) {
        if (current->ofile[fd]) continue;
        current->ofile[fd] = f;
        return fd;
    }
    return -EMFILE;
}

struct file *fd_file(int fd) {
    return fd >= 0 && fd < NOFILE ? current->ofile[fd] : NULL;
}

/* Copies a NUL-terminated string from ring 3 into dst[max]. */
int copy_string_in(char *dst, uint64_t src, size_t max) {
    for (size_t i = 0; i < max; i++, src++) {
        if ((i == 0 || src % PAGE_SIZE == 0) && !user_range_ok(current->pml4, src, 1, 0))
            return -EFAULT;
        dst[i] = *(const char *)src;
        if (!dst[i]) return 0;
    }
    return -ENAMETOOLONG;
}

/* [tour:open] */
int64_t sys_open(uint64_t upath, int flags) {
    char path[FS_NAME_MAX + 8];
    int r = copy_string_in(path, upath, sizeof path);
    if (r < 0) return r;
    int mode = flags & 3, writing = mode == O_WRONLY || mode == O_RDWR;
    int ino = flags & O_CREAT ? fs_create(path) : fs_lookup(path);
    if (ino < 0) return ino;
    if (writing && !block_writable()) return -EROFS;
    if (writing && (flags & O_TRUNC) && (r = fs_truncate(ino)) < 0) return r;
    struct file *f = file_alloc();
    if (!f) return -ENFILE;
    f->type = FD_INODE;
    f->ino = ino;
    f->readable = mode == O_RDONLY || mode == O_RDWR;
    f->writable = (char)writing;
    f->append = (flags & O_APPEND) != 0;
    fs_ref(ino, 1);
    int fd = fd_alloc(f);
    if (fd < 0) file_close(f);
    return fd;
}
/* [/tour:open] */

int64_t sys_close(int fd) {
    struct file *f = fd_file(fd);
    if (!f) return -EBADF;
    current->ofile[fd] = NULL;
    file_close(f);
    return 0;
}

int64_t sys_dup(int fd) {
    struct file *f = fd_file(fd);
    if (!f) return -EBADF;
    int new = fd_alloc(f);
    if (new >= 0) file_dup(f);
    return new;
}

int64_t sys_read(int fd, uint64_t buf, uint64_t n) {
    struct file *f = fd_file(fd);
    if (!f || !f->readable) return -EBADF;
    if (!user_range_ok(current->pml4, buf, n, 1)) return -EFAULT;
    switch (f->type) {
    case FD_CONSOLE:
        return console_read((char *)buf, n);
    case FD_PIPE:
        return pipe_read(f->pipe, (char *)buf, n);
    case FD_INODE: {
        offset_lock(f);
        ssize_t r = fs_read(f->ino, (void *)buf, f->off, n);
        if (r > 0) f->off += (uint64_t)r;
        offset_unlock(f);
        return r;
    }
    default:
        return -EBADF;
    }
}

int64_t sys_write(int fd, uint64_t buf, uint64_t n) {
    struct file *f = fd_file(fd);
    if (!f || !f->writable) return -EBADF;
    if (!user_range_ok(current->pml4, buf, n, 0)) return -EFAULT;
    switch (f->type) {
    case FD_CONSOLE:
        console_write((const char *)buf, n);
        return (int64_t)n;
    case FD_PIPE:
        return pipe_write(f->pipe, (const char *)buf, n);
    case FD_INODE: {
        offset_lock(f);
        if (f->append || f->off > fs_size(f->ino)) f->off = fs_size(f->ino);
        ssize_t r = fs_write(f->ino, (const void *)buf, f->off, n);
        if (r > 0) f->off += (uint64_t)r;
        offset_unlock(f);
        return r;
    }
    default:
        return -EBADF;
    }
}

int64_t sys_unlink(uint64_t upath) {
    char path[FS_NAME_MAX + 8];
    int r = copy_string_in(path, upath, sizeof path);
    return r < 0 ? r : fs_unlink(path);
}
