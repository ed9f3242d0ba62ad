/*
 * main.c: kernel_main, where boot.S lands in 64-bit mode, and the order things start in.
 */
#include "kernel.h"

#define MULTIBOOT_BOOTLOADER_MAGIC 0x2BADB002

void kernel_main(uint32_t magic, uint64_t multiboot_info) {
    console_init();
    kprintf("=== 1K OS x86-64 ===\n");
    kprintf("Booting in Long Mode with 4-level paging...\n");
    if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
        panic("not started by a Multiboot loader (EAX = 0x%x)", magic);
    mm_init(multiboot_info);
    trap_init();
    fs_init();
    proc_init();
    int pid = proc_spawn("shell", "");
    if (pid < 0) panic("cannot start the shell");
    kprintf("Created shell process (pid=%d)\n", pid);
    timer_init(100);
    kprintf("=== Kernel Initialization Complete ===\n");
    kprintf("Starting shell process (PID %d)...\n", pid);
    scheduler();                               /* this context becomes the idle process */
}
