/*
 * pipe.c: pipes. Lab 7 (docs/labs/07-pipe.md) writes this file; until then the kernel has no
 * pipes: pipe() returns -1, and the shell says so when a line has a `|`.
 *
 * What the lab builds, as xv6's pipe.c has it: a buffer in the kernel with a reading end and
 * a writing end, each an open file description (file.c), so that descriptors, dup and spawn
 * handle them like any file. read blocks while the buffer is empty and some description of
 * the writing end is open; once the last one closes, an empty pipe reads 0: end of file.
 * write blocks while the buffer is full; once the last description of the reading end has
 * closed it returns -1, since nothing will ever read what it writes.
 */
#include "kernel.h"

/* pipe(fd): a new pipe, its reading end at fd[0], its writing end at fd[1]; 0, or an error. */
int64_t sys_pipe(uint64_t ufd) {
    (void)ufd;
    return -1;
}

/* The last description of one end (the writing end if `writable`) has closed. */
void pipe_close(struct pipe *p, int writable) {
    (void)p, (void)writable;
}

/* Writes `n` bytes from `src` (checked by the caller): n, or -1. */
ssize_t pipe_write(struct pipe *p, const char *src, size_t n) {
    (void)p, (void)src, (void)n;
    return -1;
}

/* Reads up to `n` bytes into `dst` (checked by the caller): how many, 0 at end of file, or -1. */
ssize_t pipe_read(struct pipe *p, char *dst, size_t n) {
    (void)p, (void)dst, (void)n;
    return -1;
}
