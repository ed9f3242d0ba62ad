/*
 * shell.c: the first process. Shows the seed's banner and menu; each choice runs a program
 * from the file system as a new ring-3 process and waits for it. At end of input it leaves as
 * if `0` was chosen, and its exit powers the machine off.
 */
#include "ulib.h"

static const char *programs[10] = {
    0, "mult", "counter", "echo", "fib", "primes", "calc", "fact", "gcd", "about",
};

static void menu(void) {
    printf("\n=== 1K OS Menu ===\n"
           "1. Multiplication Table\n"
           "2. Counter\n"
           "3. Echo\n"
           "4. Fibonacci\n"
           "5. Primes\n"
           "6. Calculator\n"
           "7. Factorial\n"
           "8. GCD\n"
           "9. About\n"
           "0. Exit\n"
           "Select: ");
}

static int goodbye(void) {
    printf("\nExiting shell...\nThank you for using 1K OS!\n");
    return 0;
}

static void help(void) {
    printf("Commands:\n"
           "  1-9          run a demo program (see the menu); 0 exits\n"
           "  help         this list\n"
           "  ls           the files in the archive\n"
           "  cat NAME     print a file\n"
           "  ps           the processes\n"
           "  uptime       time since boot\n"
           "  fault        a program that writes to kernel memory (it is killed)\n"
           "  preempt      two programs that never yield, sharing the CPU anyway\n");
}

static void list_files(void) {
    char name[100];
    long size;
    for (int i = 0; (size = listfile(i, name, sizeof name)) >= 0; i++)
        printf("  %-12s %ld bytes\n", name, size);
}

static void cat(const char *name) {
    static char buf[8192];
    long n = readfile(name, buf, sizeof buf);
    if (n < 0) {
        printf("cat: %s: no such file\n", name);
        return;
    }
    write(buf, (size_t)n);
}

static void show_processes(void) {
    static const char *states[] = {"unused", "runnable", "running", "sleeping", "zombie"};
    struct procinfo p[16];
    int n = ps(p, 16);
    printf("  PID  STATE     NAME\n");
    for (int i = 0; i < n; i++)
        printf("  %3d  %-9s %s\n", p[i].pid, states[p[i].state], p[i].name);
}

int main(const char *arg) {
    (void)arg;
    char line[64];
    printf("\n======================================\n"
           "   Welcome to 1K OS Shell!\n"
           "   Mini-KVM Educational Hypervisor\n"
           "======================================\n"
           "\nType '1-9' to run demos, '0' to exit ('help' for more)\n");
    for (;;) {
        menu();
        int n = readline(line, sizeof line);
        if (n < 0) return goodbye();           /* end of input: as if 0 was chosen */
        if (n == 0) continue;
        if (strcmp(line, "help") == 0) help();
        else if (strcmp(line, "ls") == 0) list_files();
        else if (strncmp(line, "cat ", 4) == 0) cat(line + 4);
        else if (strcmp(line, "ps") == 0) show_processes();
        else if (strcmp(line, "uptime") == 0) {
            long ms = uptime();
            printf("Uptime: %ld.%02ld s (%ld ticks of the 100 Hz timer)\n", ms / 1000, ms % 1000 / 10, ms / 10);
        } else if (strcmp(line, "fault") == 0) run("fault", "");
        else if (strcmp(line, "preempt") == 0) run("preempt", "");
        else if (line[0] == '0') return goodbye();
        else if (line[0] >= '1' && line[0] <= '9') run(programs[line[0] - '0'], "");
        else printf("Unknown option: %c\nPlease select 0-9\n", line[0]);
    }
}
