/*
 * edit.c: a line editor with history, on the console's raw mode (the shell's, as GNU readline
 * is bash's). The console's own line discipline (console.c) edits a line as it is typed but
 * cannot know earlier lines: Up and Down need the program's history, so the program reads the
 * keys themselves, raw, and echoes and edits in its own buffer. Keys: printable characters,
 * Backspace, Ctrl-U (erase the line), Ctrl-C (a fresh line), Ctrl-D on an empty line (end of
 * input), Up and Down (ESC [ A, ESC [ B: the history), Enter (CR or LF).
 */
#include "ulib.h"

#define HISTORY 16

static char history[HISTORY][LINE_MAX];
static int nhistory;            /* lines ever added; the last HISTORY are kept */

void history_add(const char *line) {
    if (!*line || (nhistory && !strcmp(history[(nhistory - 1) % HISTORY], line))) return;
    strlcpy(history[nhistory++ % HISTORY], line, LINE_MAX);
}

const char *history_last(void) { return nhistory ? history[(nhistory - 1) % HISTORY] : NULL; }

void history_print(void) {
    for (int i = nhistory > HISTORY ? nhistory - HISTORY : 0; i < nhistory; i++)
        printf("%5d  %s\n", i + 1, history[i % HISTORY]);
}

/* What the editor echoes waits here, and goes out in one write before each read: a system
 * call costs a VM exit or an emulated trap, and a piped line arrives in one read. */
static char echo[4 * LINE_MAX];
static size_t echo_len;

static void flush(void) {
    write(1, echo, echo_len);
    echo_len = 0;
}

static void out(const char *s) {
    for (size_t n = strlen(s); n--; s++) {
        if (echo_len == sizeof echo) flush();
        echo[echo_len++] = *s;
    }
}

static void erase(size_t n) {
    while (n--) out("\b \b");
}

/* Shows `text` in place of the `*len` characters typed. */
static void replace(char *line, size_t *len, const char *text) {
    erase(*len);
    strlcpy(line, text, LINE_MAX);
    *len = strlen(line);
    out(line);
}

/* The next key: raw mode hands over what has arrived, up to the end of a line. */
static char keys[LINE_MAX];
static size_t keys_at, keys_len;

static int key(void) {
    if (keys_at == keys_len) {
        flush();
        long n = read(0, keys, sizeof keys);
        if (n <= 0) return -1;
        keys_at = 0, keys_len = (size_t)n;
    }
    return (unsigned char)keys[keys_at++];
}

/* Shows `prompt`, reads a line into `line` (LINE_MAX bytes); -1 at the end of input. */
int edit_line(const char *prompt, char *line) {
    char typed[LINE_MAX];       /* the line being typed, while Up shows older ones */
    size_t len = 0;
    int shown = nhistory;       /* which history line is shown; nhistory: the typed one */
    rawmode(1);
    out(prompt);
    for (;;) {
        int c = key();
        if (c < 0 || (c == 0x04 && !len)) {            /* end of input, or Ctrl-D */
            if (len) break;
            flush();
            rawmode(0);
            return -1;
        }
        if (c == '\r' || c == '\n') break;
        if (c == 0x7F || c == '\b') {
            if (len) erase(1), len--;
        } else if (c == 0x15) {                        /* Ctrl-U */
            erase(len), len = 0;
        } else if (c == 0x03) {                        /* Ctrl-C: a fresh line */
            out("^C");
            len = 0;
            break;
        } else if (c == 0x1B) {                        /* ESC [ A: Up, ESC [ B: Down */
            int c2 = key(), c3 = key();
            while (c2 == '[' && c3 >= 0x20 && c3 < 0x40) c3 = key();
            line[len] = 0;
            if (c3 == 'A' && shown > 0 && shown > nhistory - HISTORY) {
                if (shown == nhistory) strlcpy(typed, line, sizeof typed);
                replace(line, &len, history[--shown % HISTORY]);
            } else if (c3 == 'B' && shown < nhistory) {
                shown++;
                replace(line, &len, shown == nhistory ? typed : history[shown % HISTORY]);
            }
        } else if (c >= 0x20 && c < 0x7F && len < LINE_MAX - 1) {
            line[len++] = (char)c;
            line[len] = 0;
            out(&line[len - 1]);
        }
    }
    out("\n");
    flush();
    rawmode(0);
    line[len] = 0;
    return (int)len;
}
