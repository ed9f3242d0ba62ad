/*
 * trap.c: each CPU's GDT with ring-3 segments and a TSS, the IDT, the 8259 PIC and 8254 PIT,
 * and the C side of every interrupt, exception and system call.
 * References: Intel SDM Vol. 3A, 3.4.5 (segment descriptors), 7.2.3 (the 64-bit TSS), 6.10-6.14
 * (the IDT and 64-bit interrupt handling), 6.15 (exception reference); Intel 8259A and 8254
 * datasheets.
 */
#include "kernel.h"

/* Each CPU's GDT (in its struct cpu): null, kernel code/data, user data/code (in the order
 * SYSRET would want), then its own TSS. */
static const uint64_t segments[5] = {
    0,
    0x00AF9A000000FFFF,    /* 0x08 kernel code: 64-bit, DPL 0 */
    0x00CF92000000FFFF,    /* 0x10 kernel data */
    0x00CFF2000000FFFF,    /* 0x18 user data: DPL 3 */
    0x00AFFA000000FFFF,    /* 0x20 user code: 64-bit, DPL 3 */
};                         /* 0x28 the TSS: a 16-byte system descriptor, filled in below */

static struct {
    uint16_t offset_low, selector;
    uint8_t ist, type;      /* type: 0x8E interrupt gate DPL 0, 0xEE DPL 3 */
    uint16_t offset_mid;
    uint32_t offset_high, zero;
} __attribute__((packed)) idt[256];

extern uint64_t trap_vectors[48];
extern void trap128(void);
volatile uint64_t ticks;

#define PIC1 0x20          /* master 8259: command, data = +1 */
#define PIC2 0xA0
#define PIC_EOI 0x20

/* The 64-bit TSS holds no registers any more, only stack pointers: RSP0 is where this CPU
 * switches to when an interrupt arrives in ring 3. */
void tss_set_rsp0(uint64_t rsp0) { mycpu()->tss.rsp0 = rsp0; }

static void set_gate(int vector, uint64_t handler, uint8_t type) {
    idt[vector].offset_low = handler & 0xFFFF;
    idt[vector].selector = KERNEL_CS;
    idt[vector].ist = 0;
    idt[vector].type = type;
    idt[vector].offset_mid = (handler >> 16) & 0xFFFF;
    idt[vector].offset_high = handler >> 32;
    idt[vector].zero = 0;
}

/* Remaps the PICs so IRQ 0-15 do not collide with CPU exceptions 0-31, and unmasks only the
 * timer and COM1. [tour:pic-init] */
static void pic_init(void) {
    outb(PIC1, 0x11); outb(PIC2, 0x11);        /* ICW1: edge triggered, cascade, ICW4 */
    outb(PIC1 + 1, IRQ_BASE); outb(PIC2 + 1, IRQ_BASE + 8);   /* ICW2: vector bases */
    outb(PIC1 + 1, 4); outb(PIC2 + 1, 2);      /* ICW3: slave on IRQ 2 */
    outb(PIC1 + 1, 1); outb(PIC2 + 1, 1);      /* ICW4: 8086 mode */
    outb(PIC1 + 1, (uint8_t)~((1 << IRQ_TIMER) | (1 << IRQ_COM1)));
    outb(PIC2 + 1, 0xFF);
}
/* [/tour:pic-init] */
/* Builds CPU c's GDT and TSS and loads them: the first thing each CPU does, since mycpu()
 * finds a CPU's data by its GDT. */
void gdt_init(struct cpu *c) {
    uint64_t base = (uint64_t)&c->tss, limit = sizeof c->tss - 1;
    memcpy(c->gdt, segments, sizeof segments);
    c->tss.iomap_base = sizeof c->tss;         /* no I/O bitmap: ring 3 port I/O is a #GP */
    c->gdt[5] = (limit & 0xFFFF) | ((base & 0xFFFFFF) << 16) | (0x89UL << 40) |
                (((limit >> 16) & 0xF) << 48) | (((base >> 24) & 0xFF) << 56);
    c->gdt[6] = base >> 32;
    struct { uint16_t limit; uint64_t base; } __attribute__((packed))
        gdtr = { sizeof c->gdt - 1, (uint64_t)c->gdt };
    __asm__ volatile(
        "lgdt %0\n"
        "pushq $0x08\n"                        /* reload CS with a far return */
        "leaq 1f(%%rip), %%rax\n"
        "pushq %%rax\n"
        "lretq\n"
        "1: movl $0x10, %%eax\n"
        "movl %%eax, %%ds\n movl %%eax, %%es\n movl %%eax, %%ss\n"
        "xorl %%eax, %%eax\n movl %%eax, %%fs\n movl %%eax, %%gs\n"
        "movw $0x28, %%ax\n ltr %%ax"
        :: "m"(gdtr) : "rax", "memory");
}

/* Every CPU uses the one IDT. */
void idt_load(void) {
    struct { uint16_t limit; uint64_t base; } __attribute__((packed))
        idtr = { sizeof idt - 1, (uint64_t)idt };
    __asm__ volatile("lidt %0" :: "m"(idtr));
}

/* The IDT, and the interrupt controllers: the 8259 PIC on one CPU; on several, the 8259
 * masked and COM1's interrupt routed through the IOAPIC to CPU 0's LAPIC (apic.c). */
void trap_init(void) {
    for (int v = 0; v < 48; v++) set_gate(v, trap_vectors[v], 0x8E);
    set_gate(0x80, (uint64_t)trap128, 0xEE);  /* DPL 3: ring 3 may `int 0x80` */
    idt_load();
    pic_init();
    if (apic) {
        outb(PIC1 + 1, 0xFF);                  /* every 8259 line masked */
        lapic_init();
        ioapic_route(mp_isa_pin(IRQ_COM1), IRQ_BASE + IRQ_COM1, cpus[0].apic_id);
    }
    console_enable_interrupts();
    kprintf("Interrupt handlers registered\n");
    kprintf("  - CPU exceptions 0-31: a fault in ring 3 ends the process, in ring 0 it is a panic\n");
    if (!apic) {
        kprintf("  - Timer: IRQ %d -> vector 0x%x (8254 PIT)\n", IRQ_TIMER, IRQ_BASE + IRQ_TIMER);
        kprintf("  - Serial: IRQ %d -> vector 0x%x (COM1 receive, carrier loss)\n", IRQ_COM1,
                IRQ_BASE + IRQ_COM1);
    } else {
        kprintf("  - Timer: each CPU's LAPIC timer -> vector 0x%x (the PIT's IRQ 0 is masked)\n",
                IRQ_BASE + IRQ_TIMER);
        kprintf("  - Serial: IRQ %d -> IOAPIC -> vector 0x%x on CPU 0 (COM1 receive, carrier loss)\n",
                IRQ_COM1, IRQ_BASE + IRQ_COM1);
    }
    kprintf("  - System calls: int 0x80 (DPL 3 gate; #UD path for hosts that cannot deliver it)\n");
}

/* Lets device line `irq` (an ISA IRQ of the first 8259, 0-7) interrupt CPU 0 as vector
 * IRQ_BASE + irq: its 8259 mask bit cleared on one CPU; on several, its I/O APIC pin (the MP
 * table's) routed to CPU 0, as COM1's is. */
void irq_enable(int irq) {
    if (apic) ioapic_route(mp_isa_pin(irq), IRQ_BASE + irq, cpus[0].apic_id);
    else outb(PIC1 + 1, inb(PIC1 + 1) & (uint8_t)~(1 << irq));
}

/* 8254 channel 0, mode 2 (rate generator): IRQ 0 every 1193182/hz input clocks. */
/* [tour:timer] */
void timer_init(int hz) {
    uint16_t divisor = (uint16_t)(1193182 / hz);
    outb(0x43, 0x34);                          /* channel 0, low then high byte, mode 2 */
    outb(0x40, divisor & 0xFF);
    outb(0x40, divisor >> 8);
    kprintf("Timer: PIT channel 0 at %d Hz\n", hz);
}
/* [/tour:timer] */

static const char *exception_names[32] = {
    "divide error (#DE)", "debug (#DB)", "NMI", "breakpoint (#BP)", "overflow (#OF)",
    "bound range exceeded (#BR)", "invalid opcode (#UD)", "device not available (#NM)",
    "double fault (#DF)", "coprocessor segment overrun", "invalid TSS (#TS)",
    "segment not present (#NP)", "stack fault (#SS)", "general protection (#GP)",
    "page fault (#PF)", "reserved", "x87 error (#MF)", "alignment check (#AC)",
    "machine check (#MC)", "SIMD error (#XM)", "virtualization (#VE)",
    "control protection (#CP)",
};

static uint64_t read_cr2(void) {
    uint64_t v;
    __asm__ volatile("mov %%cr2, %0" : "=r"(v));
    return v;
}

static void dump(struct trapframe *tf) {
    kprintf("  RAX=%p RBX=%p RCX=%p RDX=%p\n", tf->rax, tf->rbx, tf->rcx, tf->rdx);
    kprintf("  RSI=%p RDI=%p RBP=%p RSP=%p\n", tf->rsi, tf->rdi, tf->rbp, tf->rsp);
    kprintf("  R8 =%p R9 =%p R10=%p R11=%p\n", tf->r8, tf->r9, tf->r10, tf->r11);
    kprintf("  R12=%p R13=%p R14=%p R15=%p\n", tf->r12, tf->r13, tf->r14, tf->r15);
    kprintf("  RIP=%p CS=%lx RFLAGS=%lx SS=%lx CR2=%p error=%lx\n", tf->rip, tf->cs,
            tf->rflags, tf->ss, read_cr2(), tf->error);
}

/* On the way back to ring 3: a process that kill() marked ends here, where it holds no
 * kernel state (xv6 checks p->killed at the same point). */
static void end_if_killed(struct trapframe *tf) {
    if ((tf->cs & 3) == 3 && current->killed) {
        kprintf("[kernel] pid %d (%s): killed\n", current->pid, current->name);
        proc_exit(-1);
    }
}

/* Every trap lands here, with interrupts off (all gates are interrupt gates). */
void trap(struct trapframe *tf) {
    uint64_t v = tf->vector;
    int from_user = (tf->cs & 3) == 3;
    if (v == T_SYSCALL) {
        syscall(tf);
        end_if_killed(tf);
        return;
    }
    if (v >= IRQ_BASE && v < IRQ_BASE + 16) {
        if (apic && v == IRQ_BASE + IRQ_SPURIOUS) return;    /* no EOI for the LAPIC's spurious */
        if (v == IRQ_BASE + IRQ_TIMER) {
            if (mycpu()->id == 0) {            /* every CPU ticks; one counts the time */
                ticks++;
                proc_tick();
            }
        } else if (v == IRQ_BASE + IRQ_COM1) {
            console_interrupt();
        } else if (v == IRQ_BASE + IRQ_DISK) {
            virtio_interrupt();
        }
        if (apic) {
            lapic_eoi();
        } else {
            if (v >= IRQ_BASE + 8) outb(PIC2, PIC_EOI);
            outb(PIC1, PIC_EOI);
        }
        /* Preemption: a process interrupted in ring 3 gives up the CPU at every tick. */
        if (v == IRQ_BASE + IRQ_TIMER && from_user) yield();
        end_if_killed(tf);
        return;
    }
    /*
     * System calls on KVMs that cannot deliver `int n` (a paravirtual KVM: see
     * docs/kvm-variants.md): the CPU raises #UD at the `int 0x80` itself.
     * A #UD from ring 3 whose instruction bytes are CD 80 is
     * that system call: run it and resume after the two bytes. Any other #UD is a real one.
     * On VMX/SVM hosts and under QEMU the gate at 0x80 is used and this never triggers.
     */
    /* [tour:ud-syscall] */
    if (v == T_UD && from_user && user_range_ok(current->pml4, tf->rip, 2, 0) &&
        *(uint16_t *)tf->rip == 0x80CD) {
        tf->rip += 2;
        syscall(tf);
        end_if_killed(tf);
        return;
    }
    /* [/tour:ud-syscall] */
    const char *name = v < 32 && exception_names[v] ? exception_names[v] : "unknown trap";
    if (from_user) {
        uint64_t addr = v == T_PF ? read_cr2() : tf->rip;
        kprintf("[kernel] pid %d (%s): %s at address %p, rip %p: process killed\n",
                current->pid, current->name, name, addr, tf->rip);
        proc_exit(-1);
    }
    kprintf("\n[kernel] %s in the kernel (vector %lu)\n", name, v);
    dump(tf);
    panic("kernel fault");
}

/* Ends the machine: mini-kvm's EXIT_STATUS hypercall (port 0x500, AL = 3, BL = status); under
 * QEMU, its ACPI power-off ports; otherwise halt forever. */
void power_off(int status) {
    __asm__ volatile("cli");
    __asm__ volatile("outb %%al, %%dx" :: "a"(3), "b"(status & 0xFF), "d"(0x500));
    outw(0x604, 0x2000);
    outw(0xB004, 0x2000);
    for (;;) __asm__ volatile("hlt");
}
