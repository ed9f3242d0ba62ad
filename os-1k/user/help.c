/* help.c: what the shell understands, and the programs in the file system. */
#include "ulib.h"

int main(void) {
    printf("A line holds commands, as in a Unix shell (up to 127 characters):\n"
           "  NAME ARG...      run program NAME from the file system with its arguments\n"
           "  a | b | c        a pipeline: each one's output is the next one's input\n"
           "  cmd > f, >> f    output to file f (emptied first, or appended to)\n"
           "  cmd < f          input from file f\n"
           "  cmd ; cmd        one after the other\n"
           "  cmd &            in the background: the prompt comes back at once\n"
           "  'a b', \"a b\"     one argument with spaces\n"
           "  1-9, 0           the menu's programs; 0 leaves\n"
           "Built in: exit, wait [JOB], history, !! (the last line again), menu; cd (there\n"
           "is one directory: pwd says /).\n"
           "Keys: Backspace, Ctrl-U (erase the line), Up/Down (history), Ctrl-C (end the\n"
           "running job), Ctrl-D (end of input).\n"
           "Programs:");
    struct dirent d;
    for (int i = 0; readdir(i, &d) > 0; i++) {
        char magic[4];
        int fd = open(d.name, O_RDONLY);
        if (fd < 0) continue;
        if (read(fd, magic, 4) == 4 && !strncmp(magic, "\x7f" "ELF", 4)) printf(" %s", d.name);
        close(fd);
    }
    printf("\n");
    return 0;
}
