/*
 * printk.c: the kernel's printf and panic. The formatting is lib.c's vformat, shared with the
 * programs' printf; here each character goes straight to the UART, a whole message under the
 * console's lock, so that two CPUs' lines do not mix.
 */
#include "kernel.h"

static volatile int panicking;         /* 1 + the number of the CPU that panicked */

static void put_console(void *ctx, char c) {
    (void)ctx;
    console_putc(c);
}

void kprintf(const char *fmt, ...) {
    va_list ap;
    int locking = !panicking;                  /* a panic prints without it: it may hold it */
    if (panicking && panicking != mycpu()->id + 1)
        for (;;) __asm__ volatile("cli; hlt"); /* another CPU panicked: say nothing more */
    if (locking) acquire(&console_lock);
    va_start(ap, fmt);
    vformat(put_console, NULL, fmt, ap);
    va_end(ap);
    if (locking) release(&console_lock);
}

/* A kernel bug: say what and stop the machine with EX_SOFTWARE (70, sysexits.h). */
void panic(const char *fmt, ...) {
    va_list ap;
    __asm__ volatile("cli");
    if (!panicking) panicking = mycpu()->id + 1;
    kprintf("\n[kernel] PANIC: ");
    va_start(ap, fmt);
    vformat(put_console, NULL, fmt, ap);
    va_end(ap);
    kprintf("\n");
    power_off(70);
}
