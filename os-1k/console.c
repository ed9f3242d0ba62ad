/*
 * console.c: the console on COM1, a 16550A UART.
 * Reference: TI PC16550D datasheet, section 8 (registers); xv6's uart.c for the shape.
 *
 * Output is polled, but cheaply: once LSR.THRE says the transmitter is empty, its 16-byte FIFO
 * takes 16 bytes without another look (on a VMM every port access is a VM exit).
 * Input is interrupt-driven (IRQ 4): received bytes wait in a buffer, and read() takes them
 * through a small line discipline (echo, Backspace, Ctrl-U, Enter) or, in raw mode, as they
 * are. Ctrl-C ends the foreground job as soon as it arrives. When the host's input ends, the
 * UART drops carrier detect (MSR.DCD): read() then returns 0, end of input.
 *
 * The spinlock `console` guards the UART and everything below: a line printed by one CPU is
 * not cut by another's, and the receive buffer is shared by COM1's interrupt (on CPU 0) and
 * the readers (on any CPU).
 */
#include "kernel.h"

#define COM1 0x3F8
#define RBR  0          /* receiver buffer (read) */
#define THR  0          /* transmitter holding (write) */
#define DLL  0          /* divisor latch, low byte (when LCR.DLAB) */
#define IER  1          /* interrupt enable */
#define DLM  1          /* divisor latch, high byte (when LCR.DLAB) */
#define IIR  2          /* interrupt identification (read) */
#define FCR  2          /* FIFO control (write) */
#define LCR  3          /* line control */
#define MCR  4          /* modem control */
#define LSR  5          /* line status */
#define MSR  6          /* modem status */

#define IER_RX    0x01  /* interrupt on received data */
#define IER_MODEM 0x08  /* interrupt on modem status change (carrier loss) */
#define LCR_DLAB  0x80
#define LCR_8N1   0x03
#define FCR_SETUP 0xC7  /* FIFOs on, both cleared, receive interrupt at 14 bytes */
#define MCR_DTR   0x01
#define MCR_RTS   0x02
#define MCR_OUT2  0x08  /* on a PC, gates the UART's interrupt line to the PIC */
#define LSR_DR    0x01  /* a received byte is waiting */
#define LSR_THRE  0x20  /* the transmit FIFO is empty */
#define MSR_DCD   0x80  /* carrier detect */

struct spinlock console_lock = SPINLOCK("console");
static int tx_room;                    /* bytes the transmit FIFO still takes */

static char rx[1024];                  /* received bytes, not yet read (ring buffer) */
static size_t rx_head, rx_tail;
static int carrier_lost;               /* the host's input has ended */
static int foreground = 1;             /* the process group the console belongs to */
static int raw;                        /* rawmode(1): no line editing, no echo */

#define CTRL(c) ((c) - '@')            /* the byte a terminal sends for Ctrl-<c> */

void console_init(void) {
    outb(COM1 + IER, 0);
    outb(COM1 + LCR, LCR_DLAB);
    outb(COM1 + DLL, 1);               /* 115200 baud: 1.8432 MHz / (16 x 1) */
    outb(COM1 + DLM, 0);
    outb(COM1 + LCR, LCR_8N1);
    outb(COM1 + FCR, FCR_SETUP);
    outb(COM1 + MCR, MCR_DTR | MCR_RTS | MCR_OUT2);
}

/* Called once the IDT and the PIC are ready. */
void console_enable_interrupts(void) {
    outb(COM1 + IER, IER_RX | IER_MODEM);
    console_interrupt();               /* bytes that came before, if any */
}

/* One byte out; the caller holds the console lock (or the kernel is panicking). */
void console_putc(char c) {
    if (tx_room == 0) {
        while (!(inb(COM1 + LSR) & LSR_THRE))
            ;
        tx_room = 16;
    }
    outb(COM1 + THR, (uint8_t)c);
    tx_room--;
}

static void put_bytes(const char *s, size_t n) {
    while (n--) console_putc(*s++);
}

void console_write(const char *s, size_t n) {
    acquire(&console_lock);
    put_bytes(s, n);
    release(&console_lock);
}

/* IRQ 4: take every waiting byte; notice carrier loss. Loops until IIR says nothing is pending
 * so the interrupt line goes low again (the PIC only sees rising edges).
 * Ctrl-C is acted on here, as it arrives, since the program it stops may never read: it
 * ends every process of the foreground group. When there is none to end (the shell has the
 * console), it goes to the reader like any byte, and cancels the line being typed. */
/* [tour:ctrl-c] */
void console_interrupt(void) {
    acquire(&console_lock);
    for (;;) {
        uint8_t lsr = inb(COM1 + LSR);
        if (lsr & LSR_DR) {
            char c = (char)inb(COM1 + RBR);
            if (c == CTRL('C') && proc_kill_group(foreground)) {
                put_bytes("^C\n", 3);
                continue;
            }
            size_t next = (rx_tail + 1) % sizeof rx;
            if (next != rx_head) {             /* nobody reads: drop what does not fit */
                rx[rx_tail] = c;
                rx_tail = next;
            }
            continue;
        }
        if (!(inb(COM1 + MSR) & MSR_DCD))      /* reading MSR clears its interrupt */
            carrier_lost = 1;
        if (inb(COM1 + IIR) & 1) break;        /* bit 0 set: no interrupt pending */
    }
    wakeup(&rx);
    release(&console_lock);
}
/* [/tour:ctrl-c] */

/* May the current process change the console's owner or mode? Its group owns the console,
 * or it is the shell (pid 1), which takes the console back when a job ends. */
int console_owner(void) {
    acquire(&console_lock);
    int r = current->pid == 1 || current->pgid == foreground;
    release(&console_lock);
    return r;
}

/* The console belongs to process group `pgid` (the foreground job); every other group reads
 * end of input. */
void console_foreground(int pgid) {
    acquire(&console_lock);
    foreground = pgid;
    release(&console_lock);
}

/* rawmode(on): reads return bytes as they come, unedited and not echoed (the shell edits its
 * own lines, with history); returns the previous mode. */
int console_rawmode(int on) {
    acquire(&console_lock);
    int was = raw;
    raw = on != 0;
    release(&console_lock);
    return was;
}

/* The next received byte, sleeping until one comes; -1 once input has ended (or the reader
 * was killed: it must get back to ring 3 to end). The caller holds the console lock. */
static int next_byte(void) {
    while (rx_head == rx_tail && !carrier_lost && !current->killed) sleep_on(&rx, &console_lock);
    if (rx_head == rx_tail || current->killed) return -1;
    char c = rx[rx_head];
    rx_head = (rx_head + 1) % sizeof rx;
    return (uint8_t)c;
}

/*
 * A terminal sends keys that have no character as escape sequences (ECMA-48): the arrows are
 * ESC [ A to ESC [ D, Home/End ESC [ H, ESC O H... After an ESC, skip a CSI (`[`) or SS3 (`O`)
 * sequence up to and including its final byte (0x40-0x7E), so that such keys do nothing.
 */
static void skip_escape(void) {
    int c = next_byte();
    if (c == 'O') {
        next_byte();                           /* SS3: one final byte */
    } else if (c == '[') {
        do c = next_byte();                    /* CSI: parameters, then the final byte */
        while (c >= 0x20 && c < 0x40);
    }
}

static void erase(size_t n) {
    while (n--) put_bytes("\b \b", 3);
}

/*
 * read() from the console, into `buf` (a user address the caller checked).
 * Raw mode: the bytes waiting, at least one, as they are, up to the end of the first line
 * among them (CR or LF): what comes after belongs to whoever reads next.
 * Otherwise one line, edited as it is typed (the line discipline, as xv6's console.c has it):
 * printable characters are echoed, Backspace/DEL erase one with "\b \b", Ctrl-U the whole line,
 * Ctrl-C cancels it, Enter (CR or LF) ends it and echoes a newline; escape sequences (arrow
 * keys) and other control bytes are ignored, and the rest of a line longer than `n` is dropped.
 * The line is returned with its newline. 0 means end of input: the carrier dropped (or Ctrl-D
 * was typed) with nothing pending, or the reader is not in the foreground group.
 * Editing happens as the reader reads, so that with piped input the echo comes where a
 * terminal would show it: after the prompt the program printed.
 */
static ssize_t read_locked(char *buf, size_t n) {
    if (current->pgid != foreground || n == 0) return 0;   /* a background job: end of input */
    size_t len = 0;
    if (raw) {                                 /* up to the end of a line, no further */
        int c = next_byte();
        while (c >= 0 && len < n) {
            buf[len++] = (char)c;
            if (c == '\r' || c == '\n') break;
            c = rx_head != rx_tail && len < n ? next_byte() : -1;
        }
        return (ssize_t)len;
    }
    for (;;) {
        int c = next_byte();
        if (c == 0x1B) {                       /* ESC: skip a whole escape sequence */
            skip_escape();
        } else if (c < 0 || c == CTRL('D')) {  /* end: the partial line, or 0 */
            if (len) console_putc('\n');
            return (ssize_t)len;
        } else if (c == '\r' || c == '\n') {
            console_putc('\n');
            if (len < n) buf[len++] = '\n';
            return (ssize_t)len;
        } else if (c == 0x7F || c == '\b') {
            if (len) erase(1), len--;
        } else if (c == CTRL('U')) {
            erase(len), len = 0;
        } else if (c == CTRL('C')) {
            put_bytes("^C\n", 3), len = 0;
        } else if (c >= 0x20 && c <= 0x7E && len < n) {
            buf[len++] = (char)c;
            console_putc((char)c);
        }
    }
}

ssize_t console_read(char *buf, size_t n) {
    acquire(&console_lock);
    ssize_t r = read_locked(buf, n);
    release(&console_lock);
    return r;
}
