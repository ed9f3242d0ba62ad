/* lib.c: the library the kernel and the programs share (see lib.h). */
#include "lib.h"

size_t strlen(const char *s) {
    size_t n = 0;
    while (s[n]) n++;
    return n;
}

int strcmp(const char *a, const char *b) {
    while (*a && *a == *b) a++, b++;
    return (unsigned char)*a - (unsigned char)*b;
}

int strncmp(const char *a, const char *b, size_t n) {
    for (; n; n--, a++, b++)
        if (*a != *b || !*a) return (unsigned char)*a - (unsigned char)*b;
    return 0;
}

void strlcpy(char *d, const char *s, size_t n) {
    size_t i = 0;
    for (; n && i + 1 < n && s[i]; i++) d[i] = s[i];
    if (n) d[i] = 0;
}

/* `rep stos`/`rep movs`, 8 bytes at a time when both ends allow: under an emulating KVM each
 * iteration of kernel code is one emulated step, so the qword forms are 8 times cheaper. The
 * compiler may also call these for struct copies and zeroing, even in freestanding code. */
void *memset(void *d, int c, size_t n) {
    void *p = d;
    if ((((unsigned long)d | n) & 7) == 0) {
        unsigned long v = 0x0101010101010101UL * (unsigned char)c;
        size_t q = n / 8;
        __asm__ volatile("rep stosq" : "+D"(p), "+c"(q) : "a"(v) : "memory");
    } else {
        __asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
    }
    return d;
}

void *memcpy(void *d, const void *s, size_t n) {
    void *p = d;
    if ((((unsigned long)d | (unsigned long)s | n) & 7) == 0) {
        size_t q = n / 8;
        __asm__ volatile("rep movsq" : "+D"(p), "+S"(s), "+c"(q) :: "memory");
    } else {
        __asm__ volatile("rep movsb" : "+D"(p), "+S"(s), "+c"(n) :: "memory");
    }
    return d;
}

static void put_number(void (*put)(void *, char), void *ctx, unsigned long v, int base,
                       int width, char pad, int negative) {
    char digits[24];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    if (negative && pad == '0') {             /* -0042, not 00-42 */
        put(ctx, '-');
        width--;
        negative = 0;
    }
    if (negative) digits[n++] = '-';
    while (n < width) digits[n++] = pad;
    while (n) put(ctx, digits[--n]);
}

void vformat(void (*put)(void *ctx, char c), void *ctx, const char *fmt, va_list ap) {
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            put(ctx, *fmt);
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
            put_number(put, ctx, v < 0 ? -(unsigned long)v : (unsigned long)v, 10, width, pad,
                       v < 0);
            break;
        }
        case 'u':
            put_number(put, ctx, is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 10,
                       width, pad, 0);
            break;
        case 'x':
            put_number(put, ctx, is_long ? va_arg(ap, unsigned long) : va_arg(ap, unsigned), 16,
                       width, pad, 0);
            break;
        case 'p':                              /* a 64-bit address: 0x and 16 digits */
            put(ctx, '0');
            put(ctx, 'x');
            put_number(put, ctx, va_arg(ap, unsigned long), 16, 16, '0', 0);
            break;
        case 'c':
            put(ctx, (char)va_arg(ap, int));
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            if (!s) s = "(null)";
            int n = (int)strlen(s);
            if (!left) for (; n < width; n++) put(ctx, ' ');
            while (*s) put(ctx, *s++);
            if (left) for (; n < width; n++) put(ctx, ' ');
            break;
        }
        case '%':
            put(ctx, '%');
            break;
        default:                               /* not a conversion: print it as it is */
            put(ctx, '%');
            if (!*fmt) return;
            put(ctx, *fmt);
        }
    }
}
