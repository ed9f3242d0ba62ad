/* fault.c: writes to kernel memory from ring 3. The page is supervisor-only, so the CPU raises
 * a page fault; the kernel kills this process and the shell carries on. */
#include "ulib.h"

int main(void) {
    volatile int *kernel = (volatile int *)0xFFFFFFFF80100000UL;
    printf("fault: writing to kernel address 0xffffffff80100000 from ring 3...\n");
    *kernel = 1;
    printf("fault: still alive?! the kernel's pages are not protected\n");
    return 1;
}
