/*
 * shell.c: the first process. It shows the C VMM's banner and menu once, then reads commands:
 * the menu's numbers, a few built-ins, and the name of any program in the file system, with an
 * argument, and with `&` to run it in the background. At end of input it leaves as if `0` was
 * chosen, and its exit powers the machine off.
 */
#include "ulib.h"

#define LINE_MAX 64            /* a command line: up to 63 characters */
#define MAX_JOBS 8             /* background programs at once */

static const char *programs[10] = {
    0, "mult", "counter", "echo", "fib", "primes", "calc", "fact", "gcd", "about",
};

static int jobs[MAX_JOBS];     /* pids of the background programs; 0: a free slot */

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
           "0. Exit\n");
}

static int goodbye(void) {
    printf("\nExiting shell...\nThank you for using 1K OS!\n");
    return 0;
}

static void help(void) {
    printf("Commands (a line holds up to %d characters):\n"
           "  1-9            run a demo program of the menu; 0 exits\n"
           "  NAME [ARG]     run program NAME from the file system (ls lists them)\n"
           "  NAME [ARG] &   the same in the background; ps shows it, kill PID stops it\n"
           "  menu           the menu again\n"
           "  help           this list\n"
           "  ls             the files in the archive\n"
           "  cat NAME       print a file\n"
           "  ps             the processes\n"
           "  kill PID       stop a process\n"
           "  wait PID       wait for a background program to end\n"
           "  uptime         time since boot\n"
           "  exit, quit     leave the shell, as 0 does\n"
           "Programs to try: fib, primes, spin X (prints X slowly, 12 times: try it with &),\n"
           "fault (writes to kernel memory and is killed), preempt (two programs sharing the CPU)\n",
           LINE_MAX - 1);
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

/* A decimal number, or -1 if `s` is not one. */
static int number(const char *s) {
    int n = 0;
    if (!*s) return -1;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || n > 100000) return -1;
        n = n * 10 + (*s - '0');
    }
    return n;
}

/* Background programs that have ended: say so, and free their process slots. */
static void reap_jobs(void) {
    for (int i = 0; i < MAX_JOBS; i++) {
        if (!jobs[i]) continue;
        int status = wait_nohang(jobs[i]);
        if (status == -2) continue;
        printf("[%d] done (status %d)\n", jobs[i], status);
        jobs[i] = 0;
    }
}

/* The `wait` built-in: waits for background job `pid` and says how it ended. */
static void wait_job(int pid) {
    for (int i = 0; i < MAX_JOBS; i++) {
        if (pid <= 0 || jobs[i] != pid) continue;
        printf("[%d] done (status %d)\n", pid, wait(pid));
        jobs[i] = 0;
        return;
    }
    printf("wait: %d: not a background program\n", pid);
}

/* Runs `name` with `arg`: waits for it, or with `background` remembers it as a job. */
static void start(const char *name, const char *arg, int background) {
    int slot = 0;
    if (background) {
        while (slot < MAX_JOBS && jobs[slot]) slot++;
        if (slot == MAX_JOBS) {
            printf("%s: too many background programs (at most %d)\n", name, MAX_JOBS);
            return;
        }
    }
    int pid = spawn(name, arg);
    if (pid < 0) {
        printf("%s: unknown command (try help)\n", name);
        return;
    }
    if (background) {
        jobs[slot] = pid;
        printf("[%d] %s\n", pid, name);
    } else {
        wait(pid);
    }
}

/* Splits `line` in place: the command word, its argument (the rest, trimmed) and a trailing
 * `&`. Returns 0 for an empty line. */
static int parse(char *line, char **cmd, char **arg, int *background) {
    char *end = line + strlen(line);
    while (end > line && end[-1] == ' ') *--end = 0;
    *background = end > line && end[-1] == '&';
    if (*background) {
        *--end = 0;
        while (end > line && end[-1] == ' ') *--end = 0;
    }
    while (*line == ' ') line++;
    if (!*line) return 0;
    *cmd = line;
    while (*line && *line != ' ') line++;
    if (*line) *line++ = 0;
    while (*line == ' ') line++;
    *arg = line;
    return 1;
}

int main(const char *unused) {
    (void)unused;
    char line[LINE_MAX];
    printf("\n======================================\n"
           "   Welcome to 1K OS Shell!\n"
           "   Mini-KVM Educational Hypervisor\n"
           "======================================\n");
    menu();
    printf("\nType a number from the menu, a command or a program name ('help' lists them)\n");
    for (;;) {
        reap_jobs();
        printf("Select: ");
        if (readline(line, sizeof line) < 0) return goodbye();   /* end of input: as 0 */
        char *cmd, *arg;
        int background;
        if (!parse(line, &cmd, &arg, &background)) continue;
        int digit = cmd[0] >= '0' && cmd[0] <= '9' && !cmd[1] ? cmd[0] - '0' : -1;
        if (digit == 0 || !strcmp(cmd, "exit") || !strcmp(cmd, "quit")) return goodbye();
        else if (digit > 0) start(programs[digit], arg, background);
        else if (!strcmp(cmd, "menu")) menu();
        else if (!strcmp(cmd, "help")) help();
        else if (!strcmp(cmd, "ls")) list_files();
        else if (!strcmp(cmd, "cat")) cat(arg);
        else if (!strcmp(cmd, "ps")) show_processes();
        else if (!strcmp(cmd, "kill")) {
            int pid = number(arg);
            if (pid < 0 || kill(pid) < 0) printf("kill: %s: no such process\n", arg);
        } else if (!strcmp(cmd, "wait")) {
            wait_job(number(arg));
        } else if (!strcmp(cmd, "uptime")) {
            long ms = uptime();
            printf("Uptime: %ld.%02ld s (%ld ticks of the 100 Hz timer)\n", ms / 1000,
                   ms % 1000 / 10, ms / 10);
        } else {
            start(cmd, arg, background);
        }
    }
}
