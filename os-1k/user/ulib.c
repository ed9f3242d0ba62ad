/* ulib.c: printf (buffered into one write per call), lines, numbers, errors. The formatting
 * and the string functions are lib.c's, shared with the kernel. */
#include "ulib.h"

struct out {
    int fd;
    size_t len;
    char buf[512];
};

static void put(void *ctx, char c) {
    struct out *o = ctx;
    if (o->len == sizeof o->buf) {
        write_all(o->fd, o->buf, o->len);
        o->len = 0;
    }
    o->buf[o->len++] = c;
}

static int out(int fd, const char *fmt, va_list ap) {
    struct out o;
    o.fd = fd;
    o.len = 0;
    vformat(put, &o, fmt, ap);
    if (o.len && write_all(fd, o.buf, o.len) < 0) return -1;
    return 0;
}

int printf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = out(1, fmt, ap);
    va_end(ap);
    return r;
}

int dprintf(int fd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int r = out(fd, fmt, ap);
    va_end(ap);
    return r;
}

/* A write may take fewer bytes than asked (a file takes at most FS_WRITE_MAX per call). */
long write_all(int fd, const void *buf, size_t n) {
    size_t done = 0;
    while (done < n) {
        long r = write(fd, (const char *)buf + done, n - done);
        if (r <= 0) return r < 0 ? r : -1;
        done += (size_t)r;
    }
    return (long)n;
}

/* Lines from one descriptor at a time, through a buffer: the console's line discipline hands
 * over a line per read, a pipe or a file what it has. */
static struct {
    int fd;
    size_t start, end;
    char data[512];
} in = {-1, 0, 0, {0}};

int getline(int fd, char *buf, size_t max) {
    size_t len = 0;
    if (in.fd != fd) in.fd = fd, in.start = in.end = 0;
    for (;;) {
        if (in.start == in.end) {
            long n = read(fd, in.data, sizeof in.data);
            if (n <= 0) break;
            in.start = 0, in.end = (size_t)n;
        }
        char c = in.data[in.start++];
        if (c == '\n') {
            buf[len] = 0;
            return (int)len;
        }
        if (len + 1 < max) buf[len++] = c;
    }
    buf[len] = 0;
    return len ? (int)len : -1;             /* a last line without its newline still counts */
}

int readline(char *buf, size_t max) { return getline(0, buf, max); }

int number(const char *s, long *out) {
    long v = 0;
    int negative = *s == '-';
    if (negative) s++;
    if (!*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > 100000000000000000L) return -1;
        v = v * 10 + (*s - '0');
    }
    *out = negative ? -v : v;
    return 0;
}

int wait(int pid) {
    int status;
    return waitpid(pid, &status, 0) < 0 ? -1 : status;
}

const char *strerror(int err) {
    switch (err < 0 ? -err : err) {
    case EPERM: return "not allowed";
    case ENOENT: return "no such file";
    case ESRCH: return "no such process";
    case EIO: return "disk error";
    case E2BIG: return "arguments too long";
    case ENOEXEC: return "not a program";
    case EBADF: return "bad file descriptor";
    case ECHILD: return "no such child";
    case EAGAIN: return "too many processes";
    case ENOMEM: return "out of memory";
    case EFAULT: return "bad address";
    case EINVAL: return "invalid argument";
    case ENFILE: return "too many open files in the system";
    case EMFILE: return "too many open files";
    case EFBIG: return "file too large";
    case ENOSPC: return "no space left on the disk";
    case EROFS: return "read-only file system";
    case ENAMETOOLONG: return "name too long";
    default: return "failed";
    }
}
