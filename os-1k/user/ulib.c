/* ulib.c: printf (buffered into one write per call), readline, run (strings: ../string.c). */
#include "ulib.h"
#include <stdarg.h>

struct out {
    char buf[512];
    size_t len;
};

static void put(struct out *o, char c) {
    if (o->len == sizeof o->buf) {
        write(o->buf, o->len);
        o->len = 0;
    }
    o->buf[o->len++] = c;
}

static void put_number(struct out *o, unsigned long v, int base, int width, char pad, int negative) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (negative) digits[n++] = '-';
    while (n < width) digits[n++] = pad;
    while (n) put(o, digits[--n]);
}

/* %d %u %x %c %s %%, with l for long, a width, '0' padding and '-' for left alignment (%s). */
int printf(const char *fmt, ...) {
    struct out o;
    va_list ap;
    o.len = 0;
    va_start(ap, fmt);
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            put(&o, *fmt);
            continue;
        }
        fmt++;
        int left = 0, width = 0, is_long = 0;
        char pad = ' ';
        if (*fmt == '-') left = 1, fmt++;
        if (*fmt == '0') pad = '0', fmt++;
        while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
        if (*fmt == 'l') is_long = 1, fmt++;
        switch (*fmt) {
        case 'd': {
            long v = is_long ? va_arg(ap, long) : va_arg(ap, int);
            put_number(&o, v < 0 ? -(unsigned long)v : (unsigned long)v, 10, width, pad, v < 0);
            break;
        }
        case 'u':
            put_number(&o, is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10, width, pad, 0);
            break;
        case 'x':
            put_number(&o, is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16, width, pad, 0);
            break;
        case 'c':
            put(&o, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            int n = (int)strlen(s);
            if (!left) for (; n < width; n++) put(&o, ' ');
            while (*s) put(&o, *s++);
            if (left) for (; n < width; n++) put(&o, ' ');
            break;
        }
        case '%':
            put(&o, '%');
            break;
        default:
            put(&o, '%');
            if (!*fmt) goto done;
            put(&o, *fmt);
        }
    }
done:
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

/* The compiler may call these for struct copies and zeroing, even in freestanding code. */
void *memset(void *d, int c, size_t n) {
    unsigned char *p = d;
    while (n--) *p++ = (unsigned char)c;
    return d;
}

void *memcpy(void *d, const void *s, size_t n) {
    unsigned char *p = d;
    const unsigned char *q = s;
    while (n--) *p++ = *q++;
    return d;
}
