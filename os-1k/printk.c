/*
 * printk.c: the kernel's printf and panic. The formatting is lib.c's vformat, shared with the
 * programs' printf; here each character goes straight to the UART.
 */
#include "kernel.h"

static void put_console(void *ctx, char c) {
    (void)ctx;
    console_putc(c);
}

void kprintf(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vformat(put_console, NULL, fmt, ap);
    va_end(ap);
}

/* A kernel bug: say what and stop the machine with EX_SOFTWARE (70, sysexits.h). */
void panic(const char *fmt, ...) {
    va_list ap;
    __asm__ volatile("cli");
    kprintf("\n[kernel] PANIC: ");
    va_start(ap, fmt);
    vformat(put_console, NULL, fmt, ap);
    va_end(ap);
    kprintf("\n");
    power_off(70);
}
