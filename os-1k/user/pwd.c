/* pwd.c: the working directory: always /, the one directory there is. */
#include "ulib.h"

int main(void) {
    printf("/\n");
    return 0;
}
