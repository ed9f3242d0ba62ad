/* calc.c: menu 6, a calculator for "A op B" with + - * /: the lines it reads, or once the
 * expression in its arguments (`calc 12 + 5`). */
#include "ulib.h"

static const char *skip_spaces(const char *s) {
    while (*s == ' ') s++;
    return s;
}

/* [spaces][-]digits; no digits counts as 0 (the C VMM's rule). */
static const char *number_at(const char *s, long *out) {
    int negative = 0;
    long v = 0;
    s = skip_spaces(s);
    if (*s == '-') negative = 1, s++;
    while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
    *out = negative ? -v : v;
    return s;
}

/* Prints what "A op B" in `line` comes to. */
static void calculate(const char *line) {
    long a, b;
    const char *s = skip_spaces(number_at(line, &a));
    char op = *s;
    if (op) s++;
    number_at(s, &b);
    switch (op) {
    case '+': printf("Result: %ld\n", a + b); break;
    case '-': printf("Result: %ld\n", a - b); break;
    case '*': printf("Result: %ld\n", a * b); break;
    case '/':
        if (b == 0) printf("Error: Division by zero\n");
        else printf("Result: %ld\n", a / b);
        break;
    default: printf("Error: Invalid operator\n");
    }
}

int main(int argc, char **argv) {
    char line[64];
    if (argc > 1) {                            /* the arguments, joined by spaces */
        size_t len = 0;
        for (int i = 1; i < argc; i++) {
            size_t n = strlen(argv[i]);
            if (len + n + 2 > sizeof line) {
                dprintf(2, "usage: calc [A OP B]: OP one of + - * /\n");
                return 1;
            }
            memcpy(line + len, argv[i], n);
            len += n;
            line[len++] = ' ';
        }
        line[len] = 0;
        calculate(line);
        return 0;
    }
    printf("\n=== Simple Calculator ===\n"
           "Enter two numbers and operator (+, -, *, /)\n"
           "Example: 12 + 5\n"
           "Type 'q' to quit\n\n");
    for (;;) {
        printf("Calculate: ");
        if (readline(line, sizeof line) < 0) return 0;
        if (strcmp(line, "q") == 0) {
            printf("Exiting calculator\n");
            return 0;
        }
        calculate(line);
    }
}
