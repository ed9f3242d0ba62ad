/* calc.c: menu 6, a calculator for "A op B" with + - * /. */
#include "ulib.h"

static const char *skip_spaces(const char *s) {
    while (*s == ' ') s++;
    return s;
}

/* [spaces][-]digits; no digits counts as 0 (the C VMM's rule). */
static const char *number(const char *s, long *out) {
    int negative = 0;
    long v = 0;
    s = skip_spaces(s);
    if (*s == '-') negative = 1, s++;
    while (*s >= '0' && *s <= '9') v = v * 10 + (*s++ - '0');
    *out = negative ? -v : v;
    return s;
}

int main(void) {
    char line[64];
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
        long a, b;
        const char *s = skip_spaces(number(line, &a));
        char op = *s;
        if (op) s++;
        number(s, &b);
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
}
