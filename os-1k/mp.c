/*
 * mp.c: the CPUs: finding them in the MP table, and starting them.
 * References: Intel MultiProcessor Specification 1.4: 4.1 (the floating pointer structure and
 * where to look for it), 4.2 (the configuration table header), 4.3 (its entries), B.4 (starting
 * the application processors); Intel SDM Vol. 3A, 9.4 "Multiple-Processor (MP) Initialization";
 * xv6's mp.c and main.c.
 *
 * The firmware describes the machine in the MP table: one entry per CPU with its LAPIC's ID,
 * the I/O APIC and its address, and which I/O APIC pin each ISA interrupt arrives at. The CPU
 * that runs kernel_main is the bootstrap processor (BSP); the others (application processors,
 * APs) wait, halted, for the BSP to send each an INIT and two startup IPIs (apic.c), which
 * start it in real mode at the trampoline (trampoline.S), which takes it to ap_main below.
 * A machine with no MP table, or with one CPU in it, runs as a PC with one CPU: the 8259 PIC
 * and the PIT.
 */
#include "kernel.h"

#define TRAMPOLINE 0x7000              /* trampoline.S's T(); the SIPI's vector is 0x7000 >> 12 */

struct mp_float {                      /* "the MP floating pointer structure": 16 bytes */
    char signature[4];                 /* "_MP_" */
    uint32_t config;                   /* physical address of the configuration table */
    uint8_t length;                    /* in 16-byte units: 1 */
    uint8_t revision;                  /* 4: version 1.4 */
    uint8_t checksum;                  /* the 16 bytes add up to 0 */
    uint8_t feature[5];                /* [0]: a default configuration, no table, if not 0;
                                          [1] bit 7: an IMCR to switch to APIC mode */
} __attribute__((packed));

struct mp_config {                     /* the configuration table's header: 44 bytes */
    char signature[4];                 /* "PCMP" */
    uint16_t length;                   /* header and entries, in bytes */
    uint8_t revision, checksum;        /* all `length` bytes add up to 0 */
    char oem[8], product[12];
    uint32_t oem_table;
    uint16_t oem_length, entries;
    uint32_t lapic;                    /* where each CPU sees its own LAPIC */
    uint16_t ext_length;
    uint8_t ext_checksum, reserved;
} __attribute__((packed));

/* The entries that follow it, each starting with its type. */
enum { MP_PROCESSOR, MP_BUS, MP_IOAPIC, MP_IOINTR, MP_LINTR };
struct mp_processor {                  /* 20 bytes */
    uint8_t type, apic_id, apic_version, flags;    /* flags: bit 0 usable, bit 1 the BSP */
    uint32_t signature, features;
    uint32_t reserved[2];
} __attribute__((packed));
struct mp_bus {                        /* 8 bytes: the bus's number and name ("ISA   ") */
    uint8_t type, id;
    char name[6];
} __attribute__((packed));
struct mp_ioapic {                     /* 8 bytes */
    uint8_t type, id, version, flags;  /* flags: bit 0 usable */
    uint32_t address;
} __attribute__((packed));
struct mp_intr {                       /* 8 bytes, I/O and local interrupt assignments */
    uint8_t type, kind;                /* kind 0: a vectored interrupt */
    uint16_t flags;                    /* polarity and trigger; 0: as the bus has them */
    uint8_t bus, irq, apic_id, pin;    /* that bus's IRQ arrives at that APIC's pin */
} __attribute__((packed));

struct trampoline_args {               /* trampoline.S's last 32 bytes */
    uint64_t cr3, stack, cpu, entry;
};

struct cpu cpus[NCPU];
int ncpu = 1;
int apic;
static uint8_t isa_pins[16];           /* 1 + the pin ISA IRQ n arrives at; 0: pin n */

extern char trampoline_start[], trampoline_args[], trampoline_end[];

static uint8_t sum(const void *p, size_t n) {
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++) s += ((const uint8_t *)p)[i];
    return s;
}

/* The floating pointer in [pa, pa + len), on a 16-byte boundary, or NULL. */
static struct mp_float *search(uint64_t pa, uint64_t len) {
    for (uint64_t a = pa; a + 16 <= pa + len; a += 16) {
        struct mp_float *f = P2V(a);
        if (*(uint32_t *)f == 0x5F504D5F && sum(f, 16) == 0) return f;   /* "_MP_" */
    }
    return NULL;
}

/* Where the specification says to look (4.1): the first KiB of the extended BIOS data area,
 * whose segment the BIOS data area holds at 0x40E, or without one the last KiB of base memory
 * (its size in KiB at 0x413); then the BIOS ROM, 0xF0000-0xFFFFF. A machine whose BIOS data
 * area gives no base memory has no firmware, and so no table: mini-kvm's, with one vCPU
 * (64 KiB of ROM searched one emulated instruction at a time would cost it 20 ms). */
static struct mp_float *find(void) {
    uint64_t ebda = (uint64_t)*(uint16_t *)P2V(0x40E) << 4;
    uint64_t base = (uint64_t)*(uint16_t *)P2V(0x413) * 1024;
    struct mp_float *f = NULL;
    if (base < 1024 || base > 0xA0000) return NULL;
    if (ebda) f = search(ebda, 1024);
    else f = search(base - 1024, 1024);
    return f ? f : search(0xF0000, 0x10000);
}

int mp_isa_pin(int irq) { return isa_pins[irq] ? isa_pins[irq] - 1 : irq; }

/* Reads the MP table: the CPUs (cpus[0] is this one, the BSP), the LAPICs and the I/O APIC.
 * Two CPUs or more: `apic`, and the I/O APIC's inputs all masked. */
void mp_init(void) {
    struct mp_float *f = find();
    if (!f || f->feature[0] || !f->config) return;
    struct mp_config *conf = P2V(f->config);
    if (strncmp(conf->signature, "PCMP", 4) || sum(conf, conf->length)) return;
    uint8_t ids[NCPU];
    int n = 0, isa_bus = -1;
    uint64_t ioapic_pa = 0;
    uint8_t *e = (uint8_t *)(conf + 1), *end = (uint8_t *)conf + conf->length;
    for (int i = 0; i < conf->entries && e < end; i++) {
        if (*e == MP_PROCESSOR) {
            struct mp_processor *p = (struct mp_processor *)e;
            if ((p->flags & 1) && n < NCPU) ids[n++] = p->apic_id;
            e += sizeof *p;
            continue;
        }
        if (*e == MP_BUS && !strncmp(((struct mp_bus *)e)->name, "ISA", 3)) {
            isa_bus = ((struct mp_bus *)e)->id;
        } else if (*e == MP_IOAPIC && !ioapic_pa && (((struct mp_ioapic *)e)->flags & 1)) {
            ioapic_pa = ((struct mp_ioapic *)e)->address;
        } else if (*e == MP_IOINTR) {
            struct mp_intr *in = (struct mp_intr *)e;
            if (in->kind == 0 && in->bus == isa_bus && in->irq < 16) isa_pins[in->irq] = (uint8_t)(in->pin + 1);
        } else if (*e > MP_LINTR) {
            return;                            /* a type this kernel cannot step over */
        }
        e += 8;
    }
    uint64_t top = 0xC0000000;                 /* mmio_map maps only the top GiB of the 4 */
    if (n < 2 || !ioapic_pa || conf->lapic < top || ioapic_pa < top) return;
    if (f->feature[1] & 0x80) {                /* the IMCR: interrupts to the APICs, not the 8259 */
        outb(0x22, 0x70);
        outb(0x23, inb(0x23) | 1);
    }
    apic_init(conf->lapic, ioapic_pa);
    uint8_t me = lapic_id();
    cpus[0].apic_id = me;
    for (int i = 0; i < n; i++) {
        if (ids[i] == me) continue;
        cpus[ncpu].id = ncpu;
        cpus[ncpu++].apic_id = ids[i];
    }
    if (ncpu != n) {
        kprintf("MP table: this CPU's LAPIC (ID %d) is not in it: one CPU\n", me);
        ncpu = 1;
        return;
    }
    apic = 1;
    kprintf("MP table at %p: %d CPUs, their LAPICs at 0x%x, I/O APIC at 0x%lx\n", V2P(f), ncpu,
            conf->lapic, ioapic_pa);
}

static void ap_main(struct cpu *c) __attribute__((noreturn));

/* Starts every AP, one after the other, each on its idle process's stack. */
void smp_start(void) {
    int started = ncpu;
    memcpy(P2V(TRAMPOLINE), trampoline_start, (size_t)(trampoline_end - trampoline_start));
    struct trampoline_args *args = P2V(TRAMPOLINE + (trampoline_args - trampoline_start));
    kernel_pml4[0] = kernel_pml4[511];         /* the identity map, for the switch to paging */
    args->cr3 = V2P(kernel_pml4);
    args->entry = (uint64_t)ap_main;
    for (int i = 1; i < ncpu; i++) {
        args->stack = cpus[i].proc->kstack_top;
        args->cpu = (uint64_t)&cpus[i];
        int r = lapic_start_ap(cpus[i].apic_id, TRAMPOLINE, &cpus[i].started);
        kprintf("CPU %d (LAPIC ID %d): INIT, SIPI, SIPI to the trampoline at 0x%x: %s\n", i,
                cpus[i].apic_id, TRAMPOLINE, r < 0 ? "did not start" : "started");
        if (r < 0) {
            started = i;
            break;
        }
    }
    kernel_pml4[0] = 0;
    __asm__ volatile("mov %0, %%cr3" :: "r"(V2P(kernel_pml4)) : "memory");
    for (int i = started; i < ncpu; i++) proc_drop_cpu(i);
    ncpu = started;
}

/* Where an AP arrives from the trampoline, on its idle process's stack, interrupts off. */
static void ap_main(struct cpu *c) {
    gdt_init(c);                               /* its own GDT: mycpu() works */
    idt_load();
    lapic_init();                              /* its timer ticks from here on */
    c->started = 1;
    while (!booted) __asm__ volatile("pause");  /* until the BSP has finished the boot */
    scheduler();
}
