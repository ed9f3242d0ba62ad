/* yes.c: prints WORD (y without one) on a line of its own, again and again, until its output
 * goes nowhere: a write that fails, as a pipe's does once its reader has gone. */
#include "ulib.h"

int main(int argc, char **argv) {
    const char *word = argc > 1 ? argv[1] : "y";
    while (printf("%s\n", word) == 0) {
    }
    return 0;
}
