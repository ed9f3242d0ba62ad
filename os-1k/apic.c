/*
 * apic.c: each CPU's local APIC (its timer, end of interrupt, the IPIs that start the other
 * CPUs) and the I/O APIC that routes the devices' interrupts; used when there are several
 * CPUs (one CPU keeps the 8259 PIC and the PIT: trap.c).
 * References: Intel SDM Vol. 3A, chapter 11 "Advanced Programmable Interrupt Controller"
 * (11.4.1 the registers, 11.5.4 the timer, 11.6.1 the interrupt command register, 11.8.5
 * end of interrupt, 11.9 the spurious vector); Intel 82093AA I/O APIC datasheet, 3.2 (the
 * redirection table); Intel 8254 datasheet (the counter latch command); xv6's lapic.c and
 * ioapic.c.
 *
 * Both are memory-mapped, at physical addresses the MP table gives (0xFEE00000 and 0xFEC00000
 * on a PC), in the top GiB of the 4 GiB space, which mmio_map (mm.c) maps uncached. Every CPU
 * reads its own LAPIC at the same address.
 */
#include "kernel.h"

/* LAPIC registers: 32 bits each, 16 bytes apart (indexes into `lapic`). */
#define ID      (0x020 / 4)
#define TPR     (0x080 / 4)            /* task priority: 0 takes every interrupt */
#define EOI     (0x0B0 / 4)
#define SVR     (0x0F0 / 4)            /* spurious vector, and the APIC's enable bit */
#define ESR     (0x280 / 4)            /* error status */
#define ICRLO   (0x300 / 4)            /* interrupt command: writing the low half sends it */
#define ICRHI   (0x310 / 4)            /* its destination, in bits 24-31 */
#define TIMER   (0x320 / 4)            /* local vector table: the timer... */
#define LINT0   (0x350 / 4)            /* ...the two local interrupt pins... */
#define LINT1   (0x360 / 4)
#define ERROR   (0x370 / 4)            /* ...and errors */
#define TICR    (0x380 / 4)            /* the timer's initial count */
#define TCCR    (0x390 / 4)            /* its current count */
#define TDCR    (0x3E0 / 4)            /* its divider */

#define SVR_ENABLE    0x100
#define LVT_MASKED    0x10000
#define LVT_PERIODIC  0x20000
#define TDCR_BY_16    0x3
#define ICR_INIT      0x500
#define ICR_STARTUP   0x600
#define ICR_PENDING   0x1000           /* delivery status: not yet accepted */
#define ICR_ASSERT    0x4000
#define ICR_LEVEL     0x8000

/* I/O APIC: an index register and a data window; register 1 holds the version and the
 * number of redirection entries, and entry n is registers 0x10 + 2n (low) and 0x11 + 2n. */
#define IOREGSEL 0
#define IOWIN    (0x10 / 4)
#define IOAPICVER 1
#define REDTBL   0x10

static volatile uint32_t *lapic, *ioapic;
static uint32_t timer_count;           /* LAPIC timer counts in one tick */

static void ioapic_write(uint32_t reg, uint32_t v) {
    ioapic[IOREGSEL] = reg;
    ioapic[IOWIN] = v;
}

static uint32_t ioapic_read(uint32_t reg) {
    ioapic[IOREGSEL] = reg;
    return ioapic[IOWIN];
}

/* Maps the LAPICs and the I/O APIC, and masks every I/O APIC input. */
void apic_init(uint64_t lapic_pa, uint64_t ioapic_pa) {
    lapic = mmio_map(lapic_pa);
    ioapic = mmio_map(ioapic_pa);
    int pins = (int)((ioapic_read(IOAPICVER) >> 16) & 0xFF) + 1;
    for (int pin = 0; pin < pins; pin++) {
        ioapic_write(REDTBL + 2 * pin, LVT_MASKED);
        ioapic_write(REDTBL + 2 * pin + 1, 0);
    }
}

/* I/O APIC input `pin` raises `vector` at the LAPIC `apic_id`: fixed delivery, physical
 * destination, edge-triggered, active high (an ISA interrupt). */
void ioapic_route(int pin, int vector, uint8_t apic_id) {
    ioapic_write(REDTBL + 2 * pin + 1, (uint32_t)apic_id << 24);
    ioapic_write(REDTBL + 2 * pin, (uint32_t)vector);        /* unmasked, last */
}

uint8_t lapic_id(void) { return (uint8_t)(lapic[ID] >> 24); }

void lapic_eoi(void) { lapic[EOI] = 0; }

/* This CPU's LAPIC on, taking every interrupt; its timer ticking, once it is calibrated. The
 * local pins are masked: the devices come through the I/O APIC. */
void lapic_init(void) {
    lapic[SVR] = SVR_ENABLE | (IRQ_BASE + IRQ_SPURIOUS);
    lapic[LINT0] = LVT_MASKED;
    lapic[LINT1] = LVT_MASKED;
    lapic[ERROR] = LVT_MASKED;
    lapic[ESR] = 0;                            /* two writes clear the error status */
    lapic[ESR] = 0;
    lapic[TPR] = 0;
    lapic[EOI] = 0;                            /* anything the firmware left in service */
    if (timer_count) {
        lapic[TDCR] = TDCR_BY_16;
        lapic[TIMER] = LVT_PERIODIC | (IRQ_BASE + IRQ_TIMER);
        lapic[TICR] = timer_count;
    }
}

/* PIT channel 0's count: the latch command freezes it for two reads, low byte then high. */
static uint16_t pit_count(void) {
    outb(0x43, 0x00);
    uint8_t low = inb(0x40), high = inb(0x40);
    return (uint16_t)(low | high << 8);
}

/* Polls PIT channel 0 (mode 2: it counts down to 1, then reloads) until `*flag` is set or the
 * count has reloaded `periods` times; returns *flag. */
static int wait_for(volatile int *flag, int periods) {
    uint16_t last = pit_count();
    while (!*flag && periods > 0) {
        uint16_t now = pit_count();
        if (now > last) periods--;
        last = now;
    }
    return *flag;
}

static void pit_wait(int periods) {
    static volatile int never;
    wait_for(&never, periods);
}

/*
 * The LAPIC timer counts down at its bus clock (divided by 16 here), whose rate no register
 * gives: count it against a clock whose rate is known. From one reload of PIT channel 0 to
 * the next is one period of timer_init's frequency, `hz`; the LAPIC counts down meanwhile
 * are one tick's worth, for every CPU (they share the bus clock). Then this CPU's timer
 * starts.
 */
/* [tour:calibrate] */
void lapic_timer_calibrate(int hz) {
    lapic[TDCR] = TDCR_BY_16;
    lapic[TIMER] = LVT_MASKED;                 /* one-shot, and no interrupt */
    pit_wait(1);                               /* from the start of a period... */
    lapic[TICR] = 0xFFFFFFFF;
    pit_wait(1);                               /* ...to the start of the next */
    timer_count = 0xFFFFFFFF - lapic[TCCR];
    lapic_init();
    kprintf("Timer: each CPU's LAPIC timer at %d Hz, %u counts a tick (measured against the PIT)\n",
            hz, timer_count);
}
/* [/tour:calibrate] */

/* Sends an IPI (the low half of the command; the destination in the high half) and waits
 * until the LAPIC has delivered it. */
static void send_ipi(uint8_t apic_id, uint32_t command) {
    lapic[ICRHI] = (uint32_t)apic_id << 24;
    lapic[ICRLO] = command;
    while (lapic[ICRLO] & ICR_PENDING) __asm__ volatile("pause");
}

/*
 * Starts the CPU whose LAPIC is `apic_id` at physical `entry_pa` (a page boundary below 1 MiB)
 * in real mode, as the MP specification says (B.4): INIT (assert, then deassert), 10 ms, a
 * startup IPI (SIPI) whose vector is the entry's page number, then a second one (a CPU that
 * runs already ignores it); here the waits after each SIPI end early once the CPU has said
 * `*started`. 0 once it runs, -1 if it did not within a second.
 */
/* [tour:start-ap] */
int lapic_start_ap(uint8_t apic_id, uint64_t entry_pa, volatile int *started) {
    send_ipi(apic_id, ICR_INIT | ICR_LEVEL | ICR_ASSERT);
    send_ipi(apic_id, ICR_INIT | ICR_LEVEL);
    pit_wait(1);
    send_ipi(apic_id, ICR_STARTUP | (uint32_t)(entry_pa >> 12));
    wait_for(started, 1);
    send_ipi(apic_id, ICR_STARTUP | (uint32_t)(entry_pa >> 12));
    return wait_for(started, 100) ? 0 : -1;
}
/* [/tour:start-ap] */
