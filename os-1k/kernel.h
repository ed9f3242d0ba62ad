/*
 * kernel.h: the 1K OS's shared definitions: types, the memory layout, hardware ports,
 * and every kernel function another file calls.
 *
 * The 1K OS is a 64-bit teaching kernel in the spirit of "Operating System in 1,000 Lines"
 * and xv6: processes in ring 3 with their own address spaces and descriptors, preemption on a
 * 100 Hz timer, on one CPU or on every CPU the MP table names (mp.c). The kernel runs with
 * interrupts off except in the idle loop, so on one CPU it changes processes only where it
 * sleeps; with several, every structure two CPUs share is guarded by a spinlock (spinlock.c),
 * taken in the order below.
 *
 * [tour:lock-order]
 * The lock order. A CPU that holds several locks took them in this order, never another, so
 * that no two CPUs can each wait for a lock the other holds:
 *
 *   1. sleeping locks, held across sleeps: a description's offset (file.c), then the file
 *      system's (fs.c); they are flags that spinlocks guard, not spinlocks themselves;
 *   2. at most one of: "fs" (the file system's flag), "pipe" (one pipe), "console",
 *      "files" (the table of open file descriptions), "disk" (the virtio queue), "locktest";
 *   3. "proc": the process table, which is the run queue, and sleep and wakeup;
 *   4. "kmem": the page allocator.
 *
 * A spinlock is held with interrupts off (acquire turns them off, the last release restores
 * them) and never across a sleep: sleep_on releases the one it is given.
 * [/tour:lock-order]
 */
#ifndef KERNEL_H
#define KERNEL_H
#include "lib.h"                        /* size_t, strings, memset/memcpy, vformat */
#include "user/syscall.h"               /* the system call ABI: numbers, structures, errors */

typedef unsigned char uint8_t;
typedef unsigned short uint16_t;
typedef unsigned int uint32_t;
typedef unsigned long uint64_t;
typedef long int64_t;
typedef long ssize_t;
#define NULL ((void *)0)

/* Memory layout (virtual). The kernel lives in the top 2 GiB, where the boot code maps
 * physical 0-1 GiB; user programs live in the bottom half. Intel SDM Vol. 3A, 4.5. */
#define KERNBASE    0xFFFFFFFF80000000UL
#define P2V(pa)     ((void *)((uint64_t)(pa) + KERNBASE))
#define V2P(va)     ((uint64_t)(va) - KERNBASE)
#define USER_BASE   0x400000UL          /* programs are linked here (user/user.ld) */
#define USER_STACK  0x800000UL          /* top of each process's stack */
#define USER_TOP    0x800000000000UL    /* first non-canonical address */
#define PAGE_SIZE   4096UL

/* Segment selectors (GDT in trap.c). User selectors carry RPL 3. */
#define KERNEL_CS   0x08
#define KERNEL_DS   0x10
#define USER_DS     (0x18 | 3)
#define USER_CS     (0x20 | 3)
#define TSS_SEL     0x28

/* Page-table entry bits (SDM Vol. 3A, Table 4-19). */
#define PTE_P       0x001   /* present */
#define PTE_W       0x002   /* writable */
#define PTE_U       0x004   /* user-accessible: ring 3 may touch it */
#define PTE_PS      0x080   /* 2 MiB page (in a PDE) */
#define PTE_ADDR    0x000FFFFFFFFFF000UL

/* Trap vectors (SDM Vol. 3A, Table 6-1) and the hardware interrupts after the PIC remap. */
#define T_UD        6       /* invalid opcode */
#define T_PF        14      /* page fault: CR2 holds the address */
#define T_SYSCALL   0x80    /* int 0x80 */
#define IRQ_BASE    0x20    /* IRQ n arrives as vector 0x20 + n */
#define IRQ_TIMER   0       /* the PIT on one CPU; each CPU's LAPIC timer on several */
#define IRQ_COM1    4
#define IRQ_DISK    5       /* the virtio-blk disk's line (mini-kvm's) */
#define IRQ_SPURIOUS 15     /* vector 0x2F: the LAPICs' spurious interrupt (several CPUs) */

/* ELF64 (System V ABI): the values the program loader checks. */
#define EM_X86_64   62      /* e_machine */
#define PT_LOAD     1       /* p_type of a segment to map */

/* Port I/O. */
static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) { uint8_t v; __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port)); return v; }
static inline void outw(uint16_t port, uint16_t v) { __asm__ volatile("outw %0, %1" :: "a"(v), "Nd"(port)); }
static inline uint64_t read_rflags(void) { uint64_t f; __asm__ volatile("pushfq; popq %0" : "=r"(f)); return f; }
#define RFLAGS_IF   0x200   /* interrupts on */

/* The registers a trap saves (entry.S pushes them in this order, from the bottom up). [tour:trapframe] */
struct trapframe {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
    uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;     /* pushed by the CPU */
};
/* [/tour:trapframe] */
/* Open files (file.c): a descriptor is an index into a process's `ofile`; several descriptors
 * (dup, spawn) may share one description, with one offset. */
#define NOFILE 16                 /* descriptors per process */
#define NFILE  64                 /* open file descriptions in the system */
struct pipe;                      /* pipe.c's */
struct file {
    enum { FD_NONE, FD_CONSOLE, FD_INODE, FD_PIPE } type;
    int ref;                      /* descriptors that share it */
    char readable, writable, append;
    int ino;                      /* FD_INODE: the file, and where the next read or write is */
    uint64_t off;
    int busy;                     /* FD_INODE: a read or write is moving `off` (file.c) */
    struct pipe *pipe;            /* FD_PIPE: which pipe; `writable` says which end */
};

/* Spinlocks (spinlock.c): a CPU that finds one taken spins until it is free. */
struct spinlock {
    volatile uint32_t locked;     /* 1 while some CPU holds it */
    const char *name;             /* for the panics that name it */
    struct cpu *cpu;              /* the CPU that holds it */
};
#define SPINLOCK(n) { 0, (n), NULL }

/* Each CPU's own data (mp.c starts the CPUs; trap.c loads their tables). A CPU finds its own
 * by the address of the GDT it runs with: every CPU has its own GDT, inside its struct cpu. */
#define NCPU 8
struct tss {                      /* the 64-bit TSS: only stack pointers (SDM Vol. 3A, 7.7) */
    uint32_t reserved0;
    uint64_t rsp0, rsp1, rsp2, reserved1, ist[7], reserved2;
    uint16_t reserved3, iomap_base;
} __attribute__((packed));
struct cpu {
    int id;                       /* its index in cpus[]: 0 is the CPU that booted */
    uint8_t apic_id;              /* its local APIC's ID, from the MP table */
    volatile int started;         /* it runs the kernel (set by the CPU itself) */
    struct proc *proc;            /* what it runs: a process, or its idle process */
    int ncli;                     /* how deep in pushcli it is: the locks it holds */
    int intena;                   /* were interrupts on before the first pushcli? */
    uint64_t locktest_adds;       /* the locks lab's probe: increments made on this CPU */
    uint64_t gdt[7];              /* its GDT: the same segments on every CPU, its own TSS */
    struct tss tss;               /* RSP0: where a trap from ring 3 lands on this CPU */
};
extern struct cpu cpus[NCPU];
extern int ncpu;                  /* how many CPUs run processes */
extern int apic;                  /* interrupts come through the LAPICs and IOAPIC (ncpu > 1) */

/* This CPU's struct cpu. SGDT reads the GDTR, which no other CPU shares; meaningful only with
 * interrupts off (a process may move to another CPU at any interrupt), as the kernel runs. */
/* [tour:mycpu] */
static inline struct cpu *mycpu(void) {
    struct { uint16_t limit; uint64_t base; } __attribute__((packed)) gdtr;
    __asm__ volatile("sgdt %0" : "=m"(gdtr));
    return (struct cpu *)(gdtr.base - __builtin_offsetof(struct cpu, gdt));
}
/* [/tour:mycpu] */

/* Processes (proc.c). */
#define NPROC 16
enum procstate { UNUSED, RUNNABLE, RUNNING, SLEEPING, ZOMBIE, EMBRYO };
struct proc {
    int pid;
    enum procstate state;
    char name[16];
    uint64_t *pml4;           /* its address space (kernel virtual address) */
    uint64_t kstack_top;      /* its kernel stack: traps from ring 3 land here (TSS.RSP0) */
    uint64_t context;         /* saved kernel RSP while switched out (swtch) */
    void *chan;               /* what it sleeps on */
    uint64_t wake_tick;       /* for sleep(): wake at this tick */
    int parent;
    int pgid;                 /* its process group: a job of the shell; Ctrl-C ends a group */
    int exit_status;
    int killed;               /* kill() asked it to end: it does on its next way to ring 3 */
    int cpu;                  /* the CPU it runs on, or ran on last */
    struct file *ofile[NOFILE];   /* its descriptors */
};
#define current (mycpu()->proc)   /* the process this CPU runs */
extern volatile uint64_t ticks;
extern volatile int booted;       /* main.c: the boot is over, every CPU may schedule */

/* console.c: the 16550A UART driver and the console's line discipline. */
extern struct spinlock console_lock;       /* kprintf's too */
void console_init(void);
void console_enable_interrupts(void);
void console_putc(char c);
void console_write(const char *s, size_t n);
ssize_t console_read(char *buf, size_t n);
void console_interrupt(void);
int console_owner(void);
void console_foreground(int pgid);
int console_rawmode(int on);

/* printk.c (the string and memory functions are lib.h's) */
void kprintf(const char *fmt, ...);
void panic(const char *fmt, ...) __attribute__((noreturn));

/* mm.c */
void mm_init(uint64_t multiboot_info);
uint64_t page_alloc(void);                 /* a zeroed page, physical address; 0 if none */
void page_free(uint64_t pa);
uint64_t *vm_new(void);                    /* a PML4 with the kernel half mapped */
int vm_map(uint64_t *pml4, uint64_t va, uint64_t pa, uint64_t flags);
void vm_free(uint64_t *pml4);
int user_range_ok(uint64_t *pml4, uint64_t va, uint64_t len, int write);
extern uint64_t *kernel_pml4;
extern uint64_t free_pages, total_pages;
volatile uint32_t *mmio_map(uint64_t pa);  /* device registers in physical 3-4 GiB, uncached */

/* spinlock.c */
void acquire(struct spinlock *lk);         /* panics if this CPU holds it already */
void release(struct spinlock *lk);         /* panics if it does not, or if interrupts are on */
int holding(struct spinlock *lk);
void pushcli(void);                        /* interrupts off, counted: popcli undoes one */
void popcli(void);
int64_t sys_locktest(int what, uint64_t n);

/* mp.c: the other CPUs. */
void mp_init(void);                        /* reads the MP table: ncpu, apic */
void smp_start(void);                      /* starts every other CPU */
int mp_isa_pin(int irq);                   /* the IOAPIC pin that ISA IRQ `irq` arrives at */

/* apic.c: each CPU's local APIC, and the I/O APIC that routes the devices' interrupts. */
void apic_init(uint64_t lapic_pa, uint64_t ioapic_pa);
void lapic_init(void);                     /* this CPU's: on, its timer ticking */
void lapic_timer_calibrate(int hz);        /* against PIT channel 0 */
void lapic_eoi(void);
uint8_t lapic_id(void);
int lapic_start_ap(uint8_t apic_id, uint64_t entry_pa, volatile int *started);
void ioapic_route(int pin, int vector, uint8_t apic_id);

/* trap.c */
void gdt_init(struct cpu *c);              /* this CPU's GDT and TSS, loaded */
void idt_load(void);
void trap_init(void);
void timer_init(int hz);
void irq_enable(int irq);                  /* a device's line: to CPU 0, unmasked */
void tss_set_rsp0(uint64_t rsp0);
void trap(struct trapframe *tf);           /* entry.S's common stub calls it for every trap */
void power_off(int status) __attribute__((noreturn));

/* proc.c */
void proc_init(void);
void proc_drop_cpu(int id);                /* a CPU that did not start: its idle slot is free */
struct proc *proc_alloc(void);             /* a slot, EMBRYO, with a pid; NULL if none */
void proc_free(struct proc *p);            /* gives back what proc_alloc reserved */
void proc_start(struct proc *p, const char *name, int pgid, uint64_t entry, uint64_t rsp);
void scheduler(void) __attribute__((noreturn));
void yield(void);
void sleep_on(void *chan, struct spinlock *lk);  /* lk held: released while asleep */
void wakeup(void *chan);
void proc_exit(int status) __attribute__((noreturn));
int proc_wait(int pid, int *status, int nohang);   /* pid, 0 (nohang, running) or -ECHILD */
int proc_kill(int pid);
int proc_kill_group(int pgid);             /* how many it marked */
void proc_tick(void);
void proc_sleep_ms(uint64_t ms);
int proc_list(struct procinfo *out, int max);

/* exec.c: a new process running a program from the file system. */
int spawn(const char *path, char *const argv[], int argc, struct file *fd[3], int pgid,
          int foreground);

/* block.c: the disk, in 512-byte sectors, whichever driver has it. */
void block_init(void);
const char *block_name(void);
int block_writable(void);
int block_read(uint64_t sector, void *buf, uint32_t count);
int block_write(uint64_t sector, const void *buf, uint32_t count);
int block_flush(void);                     /* what was written is on the disk: 0, or -1 */

/* virtio.c: the virtio-blk driver (buffers: kernel memory, physically contiguous). */
int virtio_init(uint64_t *sectors, int *writable);    /* 0 if the machine has the disk */
int virtio_rw(uint64_t sector, void *buf, uint32_t count, int write);
int virtio_flush(void);
void virtio_interrupt(void);

/* fs.c: the file system (layout: fs.h). Inodes are numbered 0 to FS_INODES - 1. */
void fs_init(void);
int fs_lookup(const char *path);
int fs_create(const char *path);
int fs_truncate(int ino);
int fs_unlink(const char *path);
ssize_t fs_read(int ino, void *dst, uint64_t off, size_t n);
ssize_t fs_write(int ino, const void *src, uint64_t off, size_t n);
uint32_t fs_size(int ino);
int fs_dirent(int index, char *name, uint32_t *size);
void fs_ref(int ino, int delta);

/* file.c: open files, descriptors and the system calls on them. */
struct file *file_alloc(void);
struct file *file_dup(struct file *f);
void file_close(struct file *f);
struct file *file_console(void);           /* the console's description, one more reference */
int fd_alloc(struct file *f);              /* in the current process; -EMFILE if full */
struct file *fd_file(int fd);              /* NULL if fd is not open */
int64_t sys_open(uint64_t path, int flags);
int64_t sys_close(int fd);
int64_t sys_dup(int fd);
int64_t sys_read(int fd, uint64_t buf, uint64_t n);
int64_t sys_write(int fd, uint64_t buf, uint64_t n);
int64_t sys_unlink(uint64_t path);
int copy_string_in(char *dst, uint64_t src, size_t max);   /* 0, or -EFAULT, -ENAMETOOLONG */

/* pipe.c */
int64_t sys_pipe(uint64_t fds);
ssize_t pipe_read(struct pipe *p, char *dst, size_t n);
ssize_t pipe_write(struct pipe *p, const char *src, size_t n);
void pipe_close(struct pipe *p, int writable);

/* syscall.c */
void syscall(struct trapframe *tf);

/* main.c: boot.S calls it in 64-bit mode with the Multiboot magic and information address. */
void kernel_main(uint32_t magic, uint64_t multiboot_info) __attribute__((noreturn));

/* entry.S */
void swtch(uint64_t *save_rsp, uint64_t new_rsp);
void trapret(void);
#endif
