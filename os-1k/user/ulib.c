/* ulib.c: printf (buffered into one write per call), readline, run. The formatting and the
 * string functions are lib.c's, shared with the kernel. */
#include "ulib.h"

struct out {
    char buf[512];
    size_t len;
};

static void put(void *ctx, char c) {
    struct out *o = ctx;
    if (o->len == sizeof o->buf) {
        write(o->buf, o->len);
        o->len = 0;
    }
    o->buf[o->len++] = c;
}

int printf(const char *fmt, ...) {
    struct out o;
    va_list ap;
    o.len = 0;
    va_start(ap, fmt);
    vformat(put, &o, fmt, ap);
    va_end(ap);
    if (o.len) write(o.buf, o.len);
    return 0;
}

/* The kernel edits lines (echo, backspace); read() returns one with its newline, cut to the
 * buffer if longer. */
int readline(char *buf, size_t max) {
    long n = read(buf, max - 1);
    if (n <= 0) return -1;
    if (buf[n - 1] == '\n') n--;
    buf[n] = 0;
    return (int)n;
}

int run(const char *program, const char *arg) {
    int pid = spawn(program, arg);
    if (pid < 0) {
        printf("cannot start %s\n", program);
        return -1;
    }
    return wait(pid);
}
