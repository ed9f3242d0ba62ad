/*
 * lib.h: the small freestanding C library that the kernel and the user programs share, as
 * "Operating System in 1,000 Lines" shares its common.c: string and memory functions and one
 * formatter (vformat) behind both the kernel's kprintf and the programs' printf. lib.c is
 * compiled once for each side; a freestanding program has no C library to take these from.
 */
#ifndef LIB_H
#define LIB_H
#include <stdarg.h>

typedef unsigned long size_t;

size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);
void strlcpy(char *d, const char *s, size_t n);   /* always NUL-terminates (n > 0) */
void *memset(void *d, int c, size_t n);
void *memcpy(void *d, const void *s, size_t n);

/*
 * printf's formatting, each output character handed to put(ctx, c): %d %u %x %p %s %c %%,
 * with `l` for long, a field width, `0` padding, and `-` for left alignment.
 */
void vformat(void (*put)(void *ctx, char c), void *ctx, const char *fmt, va_list ap);
#endif
