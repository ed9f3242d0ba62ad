/* echoloop.c: menu 3, the C VMM's interactive echo: it repeats lines until "quit" (or the end
 * of input). `echo` prints its arguments. */
#include "ulib.h"

int main(void) {
    char line[64];
    printf("\n=== Echo Program (type 'quit' to exit) ===\n");
    for (;;) {
        printf("echo> ");
        int n = readline(line, sizeof line);
        if (n < 0) return 0;
        if (strcmp(line, "quit") == 0) {
            printf("Exiting echo program\n");
            return 0;
        }
        if (n >= 63) printf("Warning: Input truncated to 63 characters\n");
        printf("Echo: %s\n", line);
    }
}
