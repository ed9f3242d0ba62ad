/* about.c: menu 9. */
#include "ulib.h"

int main(void) {
    int n = cpus();
    printf("\n=== About 1K OS ===\n"
           "1K OS is a 64-bit teaching operating system for mini-kvm.\n"
           "  - boots through Multiboot, then builds 4-level page tables for long mode\n"
           "  - runs every program in ring 3, in its own address space\n"
           "  - runs them on %d CPU%s, from one run queue\n"
           "  - switches programs on a 100 Hz timer interrupt (%s)\n"
           "  - reads the keyboard through COM1 interrupts (IRQ 4)\n"
           "  - keeps its programs and files in a file system on a disk\n"
           "Type 'help' at the prompt for more commands.\n",
           n, n == 1 ? "" : "s", n == 1 ? "PIT, IRQ 0" : "each CPU's LAPIC timer");
    return 0;
}
