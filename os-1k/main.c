/*
 * main.c: kernel_main, where boot.S lands in 64-bit mode, and the order things start in.
 */
#include "kernel.h"

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002

volatile int booted;                           /* set last: the other CPUs may schedule */

void kernel_main(uint32_t magic, uint64_t multiboot_info) {
    gdt_init(&cpus[0]);                        /* this CPU's own GDT and TSS: mycpu() works */
    console_init();
    kprintf("=== 1K OS x86-64 ===\n");
    kprintf("Booting in Long Mode with 4-level paging...\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        panic("not started by a Multiboot loader (EAX = 0x%x)", magic);
    mm_init(multiboot_info);
    mp_init();                                 /* how many CPUs: one, unless an MP table says */
    trap_init();
    block_init();
    fs_init();
    proc_init();
    char *argv[] = {"shell", NULL};
    struct file *console[3] = {file_console(), file_console(), file_console()};
    int pid = spawn("shell", argv, 1, console, SPAWN_NEW_GROUP, 1);
    if (pid < 0) panic("cannot start the shell (error %d)", pid);
    for (int i = 0; i < 3; i++) file_close(console[i]);
    kprintf("Created shell process (pid=%d)\n", pid);
    timer_init(100);
    if (apic) {                                /* several CPUs: each one's LAPIC timer ticks */
        lapic_timer_calibrate(100);
        smp_start();
    }
    kprintf("=== Kernel Initialization Complete ===\n");
    kprintf("Starting shell process (PID %d)...\n", pid);
    booted = 1;
    scheduler();                               /* this context becomes CPU 0's idle process */
}
