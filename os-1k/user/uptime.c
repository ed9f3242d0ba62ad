/* uptime.c: the time since boot. */
#include "ulib.h"

int main(void) {
    long ms = uptime();
    printf("Uptime: %ld.%02ld s (%ld ticks of the 100 Hz timer)\n", ms / 1000, ms % 1000 / 10,
           ms / 10);
    return 0;
}
