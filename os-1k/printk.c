/*
 * printk.c: the kernel's printf, panic, memset/memcpy and strlcpy (strlen and strcmp are in
 * string.c, shared with the programs): a freestanding kernel brings its own C library bits.
 */
#include "kernel.h"
#include <stdarg.h>

/* `rep stos`/`rep movs`, 8 bytes at a time when both ends allow: under an emulating KVM each
 * iteration is one emulated step, so the qword forms are 8 times cheaper. */
void *memset(void *d, int c, size_t n) {
    void *p = d;
    if ((((uint64_t)d | n) & 7) == 0) {
        uint64_t v = 0x0101010101010101UL * (uint8_t)c;
        size_t q = n / 8;
        __asm__ volatile("rep stosq" : "+D"(p), "+c"(q) : "a"(v) : "memory");
    } else {
        __asm__ volatile("rep stosb" : "+D"(p), "+c"(n) : "a"(c) : "memory");
    }
    return d;
}

void *memcpy(void *d, const void *s, size_t n) {
    void *p = d;
    if ((((uint64_t)d | (uint64_t)s | n) & 7) == 0) {
        size_t q = n / 8;
        __asm__ volatile("rep movsq" : "+D"(p), "+S"(s), "+c"(q) :: "memory");
    } else {
        __asm__ volatile("rep movsb" : "+D"(p), "+S"(s), "+c"(n) :: "memory");
    }
    return d;
}

void strlcpy(char *d, const char *s, size_t n) {
    size_t i = 0;
    for (; n && i + 1 < n && s[i]; i++) d[i] = s[i];
    if (n) d[i] = 0;
}

static void print_unsigned(uint64_t v, int base, int width, char pad) {
    char buf[24];
    int i = 0;
    do {
        buf[i++] = "0123456789abcdef"[v % base];
        v /= base;
    } while (v);
    while (i < width) buf[i++] = pad;
    while (i) console_putc(buf[--i]);
}

/* %d %u %x %lx %ld %lu %p %s %c %%, with an optional zero-padded width (%08x). */
static void vkprintf(const char *fmt, va_list ap) {
    for (; *fmt; fmt++) {
        if (*fmt != '%') {
            console_putc(*fmt);
            continue;
        }
        fmt++;
        char pad = ' ';
        int width = 0, is_long = 0;
        if (*fmt == '0') pad = '0', fmt++;
        while (*fmt >= '0' && *fmt <= '9') width = width * 10 + (*fmt++ - '0');
        if (*fmt == 'l') is_long = 1, fmt++;
        switch (*fmt) {
        case 'd': {
            int64_t v = is_long ? va_arg(ap, int64_t) : va_arg(ap, int);
            if (v < 0) console_putc('-'), v = -v;
            print_unsigned((uint64_t)v, 10, width, pad);
            break;
        }
        case 'u':
            print_unsigned(is_long ? va_arg(ap, uint64_t) : va_arg(ap, uint32_t), 10, width, pad);
            break;
        case 'x':
            print_unsigned(is_long ? va_arg(ap, uint64_t) : va_arg(ap, uint32_t), 16, width, pad);
            break;
        case 'p':
            console_write("0x", 2);
            print_unsigned(va_arg(ap, uint64_t), 16, 16, '0');
            break;
        case 's': {
            const char *s = va_arg(ap, const char *);
            console_write(s ? s : "(null)", strlen(s ? s : "(null)"));
            break;
        }
        case 'c':
            console_putc((char)va_arg(ap, int));
            break;
        case '%':
            console_putc('%');
            break;
        default:
            console_putc('%');
            console_putc(*fmt);
            if (!*fmt) return;
        }
    }
}

void kprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vkprintf(fmt, ap);
    va_end(ap);
}

/* A kernel bug: say what and stop the machine with EX_SOFTWARE (70, sysexits.h). */
void panic(const char *fmt, ...) {
    va_list ap;
    __asm__ volatile("cli");
    kprintf("\n[kernel] PANIC: ");
    va_start(ap, fmt);
    vkprintf(fmt, ap);
    va_end(ap);
    kprintf("\n");
    power_off(70);
}
