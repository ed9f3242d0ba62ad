/*
 * pipe.c: pipes, as xv6's pipe.c has them: a buffer in the kernel with a reading end and a
 * writing end, each an open file description (file.c), so that descriptors, dup and spawn
 * handle them like any file.
 *
 * read blocks while the buffer is empty and some description of the writing end is open; once
 * the last one closes, an empty pipe reads 0: end of file. write blocks while the buffer is
 * full; once the last description of the reading end has closed it returns -1, since nothing
 * will ever read what it writes. Both wake the other side as they go. Each pipe has a
 * spinlock: its reader and its writer may run on two CPUs at once.
 */
#include "kernel.h"

#define PIPE_SIZE 512

struct pipe {
    struct spinlock lock;              /* guards all of the rest */
    char data[PIPE_SIZE];
    uint64_t nread, nwrite;            /* bytes ever read and written: data[n % PIPE_SIZE] */
    int readopen, writeopen;           /* is that end still open? */
};

/* pipe(fd): a new pipe, its reading end at fd[0], its writing end at fd[1]. */
int64_t sys_pipe(uint64_t ufd) {
    if (!user_range_ok(current->pml4, ufd, 2 * sizeof(int), 1)) return -EFAULT;
    uint64_t pa = page_alloc();
    if (!pa) return -ENOMEM;
    struct pipe *p = P2V(pa);                  /* zeroed: nothing read or written yet */
    p->lock = (struct spinlock)SPINLOCK("pipe");
    p->readopen = p->writeopen = 1;
    struct file *r = file_alloc(), *w = r ? file_alloc() : NULL;
    if (!w) {
        if (r) file_close(r);
        page_free(pa);
        return -ENFILE;
    }
    r->type = w->type = FD_PIPE;
    r->pipe = w->pipe = p;
    r->readable = 1;
    w->writable = 1;
    int fd0 = fd_alloc(r), fd1 = fd0 < 0 ? -1 : fd_alloc(w);
    if (fd1 < 0) {
        if (fd0 >= 0) current->ofile[fd0] = NULL;
        file_close(r);
        file_close(w);
        return -EMFILE;
    }
    ((int *)ufd)[0] = fd0;
    ((int *)ufd)[1] = fd1;
    return 0;
}

/* The last description of one end has closed. */
void pipe_close(struct pipe *p, int writable) {
    acquire(&p->lock);
    if (writable) {
        p->writeopen = 0;
        wakeup(&p->nread);                     /* readers: end of file */
    } else {
        p->readopen = 0;
        wakeup(&p->nwrite);                    /* writers: nobody reads */
    }
    int gone = !p->readopen && !p->writeopen;
    release(&p->lock);
    if (gone) page_free(V2P(p));
}

/* [tour:pipe-write] */
ssize_t pipe_write(struct pipe *p, const char *src, size_t n) {
    size_t done = 0;
    acquire(&p->lock);
    while (done < n) {
        if (!p->readopen || current->killed) {
            release(&p->lock);
            return -1;
        }
        if (p->nwrite == p->nread + PIPE_SIZE) {   /* full: let the reader empty it */
            wakeup(&p->nread);
            sleep_on(&p->nwrite, &p->lock);
            continue;
        }
        size_t at = p->nwrite % PIPE_SIZE, room = PIPE_SIZE - (p->nwrite - p->nread);
        size_t chunk = n - done;
        if (chunk > room) chunk = room;
        if (chunk > PIPE_SIZE - at) chunk = PIPE_SIZE - at;
        memcpy(p->data + at, src + done, chunk);
        p->nwrite += chunk;
        done += chunk;
    }
    wakeup(&p->nread);
    release(&p->lock);
    return (ssize_t)done;
}
/* [/tour:pipe-write] */

/* [tour:pipe-read] */
ssize_t pipe_read(struct pipe *p, char *dst, size_t n) {
    acquire(&p->lock);
    while (p->nread == p->nwrite && p->writeopen) {    /* empty, and a writer may come */
        if (current->killed) {
            release(&p->lock);
            return -1;
        }
        sleep_on(&p->nread, &p->lock);
    }
    size_t done = 0;
    while (done < n && p->nread < p->nwrite) {
        size_t at = p->nread % PIPE_SIZE, chunk = n - done;
        if (chunk > p->nwrite - p->nread) chunk = p->nwrite - p->nread;
        if (chunk > PIPE_SIZE - at) chunk = PIPE_SIZE - at;
        memcpy(dst + done, p->data + at, chunk);
        p->nread += chunk;
        done += chunk;
    }
    wakeup(&p->nwrite);
    release(&p->lock);
    return (ssize_t)done;
}
/* [/tour:pipe-read] */
