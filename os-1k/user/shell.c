/*
 * shell.c: the first process, a shell in the manner of xv6's sh.c. A line is a list of
 * pipelines separated by `;` (one after the other) or `&` (in the background); a pipeline is
 * commands joined by `|`; a command is a program's name, its arguments, and redirections
 * (`< f`, `> f`, `>> f`). Each pipeline is a job: its processes share a process group, which
 * gets the console while it runs in the foreground, so Ctrl-C ends all of them and none other.
 *
 * The shell starts each program with spawn, giving it its descriptors 0, 1, 2: the console, a
 * pipe's end or a file (chapter 10 draws the tables). It keeps the C VMM's banner and menu (the
 * numbers 1-9 run the menu's programs, 0 leaves), reads its lines with edit.c's line editor
 * (Backspace, Ctrl-U, Up/Down through the history), and leaves at the end of its input, so
 * piped runs always finish; its exit powers the machine off.
 */
#include "ulib.h"

#define MAX_TOKENS 48
#define MAX_ARGS   16           /* per command */
#define MAX_STAGES 8            /* commands per pipeline */
#define MAX_PIPELINES 8         /* per line */
#define MAX_JOBS   8            /* background jobs at once */

static const char *menu_programs[10] = {
    0, "mult", "counter", "echoloop", "fib", "primes", "calc", "fact", "gcd", "about",
};

/* `!!` is the last line again: replaces it in `line`; -1 if there is none or it is too long. */
static int expand_bang(char *line) {
    char result[LINE_MAX];
    size_t len = 0;
    const char *last = history_last();
    int found = 0;
    for (const char *s = line; *s; s++) {
        const char *add = s;
        size_t n = 1;
        if (s[0] == '!' && s[1] == '!') {
            if (!last) return -1;
            add = last, n = strlen(last), found = 1, s++;
        }
        if (len + n >= LINE_MAX) return -1;
        memcpy(result + len, add, n);
        len += n;
    }
    result[len] = 0;
    if (found) {
        strlcpy(line, result, LINE_MAX);
        printf("%s\n", line);                  /* as a Unix shell shows what it runs */
    }
    return 0;
}

/* ---- Parsing: tokens, then pipelines of commands. ---- */

enum { WORD, PIPE, IN, OUT, APPEND, SEMI, AMP };
struct token {
    int type;
    char *word;                 /* WORD: the word, quotes removed */
    int start, end;             /* where it is in the line */
};

struct cmd {
    char *argv[MAX_ARGS + 1];
    int argc;
    char *in, *out;             /* < in; > out, or >> out with `append` */
    int append;
};

struct pipeline {
    struct cmd cmds[MAX_STAGES];
    int n, background;
    char text[LINE_MAX];        /* as typed: a background job's name */
};

static struct token tokens[MAX_TOKENS];

static const char *strchr_in(const char *s, char c) {
    for (; *s; s++)
        if (*s == c) return s;
    return NULL;
}

static char words[2 * LINE_MAX];
static struct pipeline pipelines[MAX_PIPELINES];

/* Splits `line` into tokens; -1 (said why) on an unfinished quote or too many. */
static int tokenize(const char *line) {
    int n = 0;
    char *w = words;
    for (int i = 0; line[i];) {
        if (line[i] == ' ' || line[i] == '\t') {
            i++;
            continue;
        }
        if (n == MAX_TOKENS) {
            dprintf(2, "sh: too many words\n");
            return -1;
        }
        struct token *t = &tokens[n++];
        t->start = i;
        const char *ops = "|<>;&";
        const char *op = strchr_in(ops, line[i]);
        if (op) {
            static const int types[] = {PIPE, IN, OUT, SEMI, AMP};
            t->type = types[op - ops];
            if (line[i] == '>' && line[i + 1] == '>') t->type = APPEND, i++;
            t->end = ++i;
            continue;
        }
        t->type = WORD;
        t->word = w;
        while (line[i] && line[i] != ' ' && line[i] != '\t' && !strchr_in(ops, line[i])) {
            if (line[i] == '\'' || line[i] == '"') {
                char quote = line[i++];
                while (line[i] && line[i] != quote) *w++ = line[i++];
                if (!line[i]) {
                    dprintf(2, "sh: no closing %c\n", quote);
                    return -1;
                }
                i++;
            } else {
                *w++ = line[i++];
            }
        }
        *w++ = 0;
        t->end = i;
    }
    return n;
}

static const char *token_text(int type) {
    static const char *text[] = {"word", "|", "<", ">", ">>", ";", "&"};
    return text[type];
}

/* Parses `ntok` tokens of `line` into `pipelines`; returns how many, -1 on an error (said). */
static int parse(const char *line, int ntok) {
    int np = 0, t = 0;
    while (t < ntok) {
        if (np == MAX_PIPELINES) {
            dprintf(2, "sh: too many commands in a line\n");
            return -1;
        }
        struct pipeline *pl = &pipelines[np];
        memset(pl, 0, sizeof *pl);
        int first = t;
        for (;;) {                                 /* one command */
            if (pl->n == MAX_STAGES) {
                dprintf(2, "sh: a pipeline of more than %d commands\n", MAX_STAGES);
                return -1;
            }
            struct cmd *c = &pl->cmds[pl->n++];
            for (; t < ntok && tokens[t].type != PIPE && tokens[t].type != SEMI &&
                   tokens[t].type != AMP; t++) {
                int type = tokens[t].type;
                if (type == WORD) {
                    if (c->argc == MAX_ARGS) {
                        dprintf(2, "sh: more than %d arguments\n", MAX_ARGS);
                        return -1;
                    }
                    c->argv[c->argc++] = tokens[t].word;
                    continue;
                }
                if (t + 1 == ntok || tokens[t + 1].type != WORD) {
                    dprintf(2, "sh: a file name must follow %s\n", token_text(type));
                    return -1;
                }
                if (type == IN) c->in = tokens[++t].word;
                else c->out = tokens[++t].word, c->append = type == APPEND;
            }
            c->argv[c->argc] = NULL;
            int end = t == ntok ? -1 : tokens[t].type;
            if (!c->argc && (pl->n > 1 || end == PIPE || c->in || c->out)) {
                dprintf(2, "sh: a command is missing %s %s\n", end == -1 ? "at the" : "before",
                        end == -1 ? "end" : token_text(end));
                return -1;
            }
            if (end != PIPE) break;
            t++;
        }
        int last = t - 1;
        if (t < ntok) pl->background = tokens[t++].type == AMP;
        if (!pl->cmds[0].argc) continue;           /* an empty command: `;;`, a trailing `;` */
        int len = tokens[last].end - tokens[first].start;
        memcpy(pl->text, line + tokens[first].start, (size_t)len);
        pl->text[len] = 0;
        np++;
    }
    return np;
}

/* ---- Jobs. ---- */

struct job {
    int pgid;                   /* 0: a free slot */
    int pids[MAX_STAGES];       /* its processes; 0 once reaped */
    int n, status, done;        /* status: the last process's */
};
static struct job jobs[MAX_JOBS];

/* Process `pid` ended with `status`: if it belongs to a background job, note it there. */
static void reaped(int pid, int status) {
    for (int j = 0; j < MAX_JOBS; j++) {
        struct job *job = &jobs[j];
        int left = 0;
        for (int i = 0; job->pgid && i < job->n; i++) {
            if (job->pids[i] == pid) {
                job->pids[i] = 0;
                if (i == job->n - 1) job->status = status;
            }
            left += job->pids[i] != 0;
        }
        if (job->pgid && !left) job->done = 1;
    }
}

static void report(int pgid, int status) {
    if (status == -1) printf("[%d] killed\n", pgid);
    else printf("[%d] done (status %d)\n", pgid, status);
}

/* Before each prompt: reap what has ended (background jobs, and orphans the shell inherits)
 * and say which jobs are done. */
static void report_jobs(void) {
    int pid, status;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) reaped(pid, status);
    for (int j = 0; j < MAX_JOBS; j++) {
        if (!jobs[j].pgid || !jobs[j].done) continue;
        report(jobs[j].pgid, jobs[j].status);
        jobs[j].pgid = 0;
    }
}

/* Waits for the processes `pids` (a foreground job); returns the last one's status. */
static int wait_for(int *pids, int n) {
    int left = n, last = 0, pid, status;
    while (left && (pid = waitpid(-1, &status, 0)) > 0) {
        int mine = 0;
        for (int i = 0; i < n; i++) {
            if (pids[i] != pid) continue;
            pids[i] = 0, left--, mine = 1;
            if (i == n - 1) last = status;
        }
        if (!mine) reaped(pid, status);
    }
    return last;
}

/* ---- Built-ins: what must happen in the shell itself. ---- */

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

static void wait_builtin(struct cmd *c) {
    long pgid = 0;
    if (c->argc > 1 && number(c->argv[1], &pgid) < 0) pgid = -1;
    int found = 0;
    for (int j = 0; j < MAX_JOBS; j++) {
        struct job *job = &jobs[j];
        if (!job->pgid || (pgid && job->pgid != pgid)) continue;
        found = 1;
        int pid, status;
        while (!job->done && (pid = waitpid(-1, &status, 0)) > 0) reaped(pid, status);
        report(job->pgid, job->status);
        job->pgid = 0;
    }
    if (!found && pgid) dprintf(2, "wait: %s: no such job\n", c->argv[1]);
}

/* Runs `c` if it is a built-in: 1; 0 if it is not one; -1 for exit. */
static int builtin(struct cmd *c, struct pipeline *pl) {
    const char *name = c->argv[0];
    int exit_now = !strcmp(name, "exit") || !strcmp(name, "quit") || !strcmp(name, "0");
    if (!exit_now && strcmp(name, "cd") && strcmp(name, "wait") && strcmp(name, "history") &&
        strcmp(name, "menu"))
        return 0;
    if (pl->n > 1 || pl->background || c->in || c->out) {
        dprintf(2, "%s: a shell built-in: not in a pipeline, redirected or in the background\n",
                name);
        return 1;
    }
    if (exit_now) return -1;
    if (!strcmp(name, "cd")) {
        dprintf(2, "cd: there is one directory, /\n");
    } else if (!strcmp(name, "wait")) {
        wait_builtin(c);
    } else if (!strcmp(name, "menu")) {
        menu();
    } else {
        history_print();
    }
    return 1;
}

/* ---- Running a pipeline. ---- */

/* Opens what command `c` redirects; the descriptors go in io[0] and io[1] (-1: none). */
static int redirect(struct cmd *c, int io[2]) {
    io[0] = io[1] = -1;
    if (c->in && (io[0] = open(c->in, O_RDONLY)) < 0) {
        dprintf(2, "sh: %s: %s\n", c->in, strerror(io[0]));
        return -1;
    }
    int flags = O_WRONLY | O_CREAT | (c->append ? O_APPEND : O_TRUNC);
    if (c->out && (io[1] = open(c->out, flags)) < 0) {
        dprintf(2, "sh: %s: %s\n", c->out, strerror(io[1]));
        return -1;
    }
    return 0;
}

static void close_if(int fd) {
    if (fd >= 0) close(fd);
}

/* [tour:pipeline] */
/* Starts every command of `pl`, each reading what the one before writes; the first one's
 * pid numbers the job's process group. Returns how many started; their pids in `pids`. */
static int start(struct pipeline *pl, int *pids) {
    int n = 0, pgid = 0, from = -1;            /* from: the previous pipe's reading end */
    for (int i = 0; i < pl->n; i++) {
        struct cmd *c = &pl->cmds[i];
        int p[2] = {-1, -1}, io[2] = {-1, -1}, r = 0;
        if (i + 1 < pl->n && (r = pipe(p)) < 0) {
            if (r == -1)
                dprintf(2, "sh: pipe: the kernel has no pipe system call (%d returned -1)\n",
                        SYS_PIPE);
            else
                dprintf(2, "sh: pipe: %s\n", strerror(r));
            p[0] = p[1] = -1;
        } else if (redirect(c, io) == 0) {
            struct spawnattr attr = {
                {io[0] >= 0 ? io[0] : from >= 0 ? from : 0, io[1] >= 0 ? io[1] : p[1] >= 0 ? p[1] : 1, 2},
                pgid ? pgid : SPAWN_NEW_GROUP,
                !pl->background,
            };
            int pid = spawn(c->argv[0], c->argv, &attr);
            if (pid == -ENOENT) dprintf(2, "%s: unknown command (try help)\n", c->argv[0]);
            else if (pid < 0) dprintf(2, "%s: %s\n", c->argv[0], strerror(pid));
            else pids[n++] = pid, pgid = pgid ? pgid : pid;
        }
        /* The child has its copies now: the shell's must close, or the pipe never ends. */
        close_if(io[0]), close_if(io[1]), close_if(from), close_if(p[1]);
        from = p[0];
        if (p[1] < 0 && i + 1 < pl->n) break;  /* no pipe: the rest cannot start */
    }
    close_if(from);
    return n;
}
/* [/tour:pipeline] */

static void run(struct pipeline *pl) {
    for (int i = 0; i < pl->n; i++) {          /* the menu's numbers name programs */
        const char *name = pl->cmds[i].argv[0];
        if (name[0] > '0' && name[0] <= '9' && !name[1])
            pl->cmds[i].argv[0] = (char *)menu_programs[name[0] - '0'];
    }
    int pids[MAX_STAGES], slot = 0;
    if (pl->background) {
        while (slot < MAX_JOBS && jobs[slot].pgid) slot++;
        if (slot == MAX_JOBS) {
            dprintf(2, "sh: too many background jobs (at most %d)\n", MAX_JOBS);
            return;
        }
    }
    int n = start(pl, pids);
    if (!n) return;
    if (pl->background) {
        struct job *job = &jobs[slot];
        memcpy(job->pids, pids, sizeof pids);
        job->n = n, job->pgid = pids[0], job->done = 0, job->status = 0;
        printf("[%d] %s\n", job->pgid, pl->text);
        return;
    }
    int pgid = pids[0], status = wait_for(pids, n);
    foreground(getpid());                      /* the console is the shell's again */
    if (status == -1) printf("[%d] killed\n", pgid);
}

int main(void) {
    char line[LINE_MAX];
    printf("\n======================================\n"
           "   Welcome to 1K OS Shell!\n"
           "   Mini-KVM Educational Hypervisor\n"
           "======================================\n");
    menu();
    printf("\nType a number from the menu, a command or a program name ('help' lists them)\n");
    for (;;) {
        report_jobs();
        if (edit_line("$ ", line) < 0) return goodbye();   /* end of input: as 0 */
        if (expand_bang(line) < 0) {
            dprintf(2, "!!: no line to repeat, or the line would be too long\n");
            continue;
        }
        history_add(line);
        int ntok = tokenize(line), np = ntok < 0 ? -1 : parse(line, ntok);
        for (int i = 0; i < np; i++) {
            struct pipeline *pl = &pipelines[i];
            int b = builtin(&pl->cmds[0], pl);
            if (b < 0) return goodbye();
            if (!b) run(pl);
        }
    }
}
