/*
 * virtio.c: the virtio-blk driver, for the disk mini-kvm gives the OS: a virtio block device
 * on the virtio-mmio transport, its registers in the page at physical 0xD0000000, its
 * interrupt on line 5. Shaped as xv6's virtio_disk.c.
 * References: Virtual I/O Device (VIRTIO) Version 1.2 (OASIS): 2.1 the status field, 2.7
 * split virtqueues, 3.1.1 driver initialization, 4.2.2 the MMIO registers, 4.2.3 MMIO device
 * operation, 5.2 the block device (5.2.6 requests); xv6-riscv's kernel/virtio_disk.c.
 *
 * The driver and the device share one virtqueue, in the kernel's memory, which the device
 * reaches by guest-physical address:
 *
 *   descriptor table  desc[NUM]: a buffer's address and length, flags (NEXT: the chain goes on
 *                     in `next`; WRITE: the device writes it), next
 *   available ring    written by the driver: the heads of the chains it offers, and idx
 *   used ring         written by the device: the heads it is done with, bytes written, idx
 *
 * A request is a chain of three descriptors: its header (type, sector), the data (read by the
 * device for a write, written for a read) and a status byte the device writes (two for a
 * FLUSH, which has no data). `request` puts the head in the available ring, writes the queue's
 * number to QueueNotify and sleeps until the interrupt says the used ring has the head back.
 * Until the scheduler runs (the mount and the shell's loading at boot) nothing can sleep: the
 * driver then asks for no interrupt (VIRTQ_AVAIL_F_NO_INTERRUPT) and polls the used ring.
 *
 * The spinlock "disk" guards the queue and the requests. The interrupt comes to CPU 0 (the
 * 8259's IRQ 5, or through the I/O APIC), and the process that waits for it may be on any CPU.
 */
#include "kernel.h"

#define VIRTIO_PA 0xD0000000UL

/* The registers (4.2.2): byte offsets into the page, each 32 bits. */
#define MAGIC           0x000   /* "virt" */
#define VERSION         0x004   /* 2: virtio 1.x's register layout */
#define DEVICE_ID       0x008   /* 2: a block device */
#define DEVICE_FEATURES 0x010   /* the 32 feature bits that DEVICE_FEATURES_SEL chooses */
#define DEVICE_FEATURES_SEL 0x014
#define DRIVER_FEATURES 0x020
#define DRIVER_FEATURES_SEL 0x024
#define QUEUE_SEL       0x030
#define QUEUE_NUM_MAX   0x034
#define QUEUE_NUM       0x038
#define QUEUE_READY     0x044
#define QUEUE_NOTIFY    0x050   /* a queue's number: it has new requests */
#define INTERRUPT_STATUS 0x060  /* bit 0: the used ring changed; bit 1: the configuration */
#define INTERRUPT_ACK   0x064
#define STATUS          0x070
#define QUEUE_DESC      0x080   /* each area's address: low word, high word at + 4 */
#define QUEUE_DRIVER    0x090
#define QUEUE_DEVICE    0x0A0
#define CONFIG          0x100   /* virtio-blk's configuration: capacity in sectors, le64 */

/* Status bits (2.1), set in this order as the driver goes. */
#define S_ACKNOWLEDGE   1
#define S_DRIVER        2
#define S_DRIVER_OK     4
#define S_FEATURES_OK   8
#define S_NEEDS_RESET   0x40
#define S_FAILED        0x80

/* Feature bits (5.2.3, 6). */
#define F_RO            5       /* the disk is read-only */
#define F_FLUSH         9       /* FLUSH exists; writes may wait in a cache until one */
#define F_VERSION_1     32      /* virtio 1.x, not the legacy interface */

#define NUM 8                   /* descriptors: two requests of three at a time */

struct virtq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags, next;
};
#define VIRTQ_DESC_F_NEXT  1
#define VIRTQ_DESC_F_WRITE 2

struct virtq_avail {
    uint16_t flags, idx, ring[NUM], used_event;
};
#define VIRTQ_AVAIL_F_NO_INTERRUPT 1

struct virtq_used {
    uint16_t flags, idx;
    struct { uint32_t id, len; } ring[NUM];
    uint16_t avail_event;
};

/* 5.2.6: a request's header, and its types and statuses. */
struct blk_header {
    uint32_t type, reserved;
    uint64_t sector;
};
#define VIRTIO_BLK_T_IN    0
#define VIRTIO_BLK_T_OUT   1
#define VIRTIO_BLK_T_FLUSH 4
#define VIRTIO_BLK_S_OK    0

/* The virtqueue, its areas aligned as 2.7.5 asks (16, 2, 4 bytes), in one page. [tour:virtq] */
static struct {
    struct virtq_desc desc[NUM];
    struct virtq_avail avail;
    struct virtq_used used __attribute__((aligned(4)));
} queue __attribute__((aligned(4096)));

/* Each request's header and status byte, by its head descriptor's index. */
static struct {
    struct blk_header header;
    volatile uint8_t status;    /* the device writes it */
    int done;                   /* the used ring has given the head back */
} reqs[NUM];
/* [/tour:virtq] */

static volatile uint32_t *regs;
static uint8_t is_free[NUM];
static uint16_t used_seen;      /* the used ring's entries the driver has taken */
static int flush_offered;
static struct spinlock disk_lock = SPINLOCK("disk");

static uint32_t get(int reg) { return regs[reg / 4]; }
static void put(int reg, uint32_t v) { regs[reg / 4] = v; }

static void put64(int reg, uint64_t v) {
    put(reg, (uint32_t)v);
    put(reg + 4, (uint32_t)(v >> 32));
}

/* Finds the device and sets it up (3.1.1): 0, with its size and whether it takes writes;
 * -1 if there is none, or it is one this driver cannot use (then it says why). */
int virtio_init(uint64_t *sectors, int *writable) {
    regs = mmio_map(VIRTIO_PA);
    if (get(MAGIC) != 0x74726976 || get(VERSION) != 2 || get(DEVICE_ID) != 2) {
        kprintf("Disk: no virtio-blk device at 0x%lx\n", VIRTIO_PA);
        return -1;
    }
    put(STATUS, 0);                                    /* reset */
    put(STATUS, S_ACKNOWLEDGE);
    put(STATUS, S_ACKNOWLEDGE | S_DRIVER);
    put(DEVICE_FEATURES_SEL, 1);
    uint32_t high = get(DEVICE_FEATURES);
    put(DEVICE_FEATURES_SEL, 0);
    uint32_t low = get(DEVICE_FEATURES) & (1 << F_RO | 1 << F_FLUSH);
    put(DRIVER_FEATURES_SEL, 0);
    put(DRIVER_FEATURES, low);
    put(DRIVER_FEATURES_SEL, 1);
    put(DRIVER_FEATURES, 1 << (F_VERSION_1 - 32));
    put(STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
    const char *refused = !(high & 1 << (F_VERSION_1 - 32)) ? "it is not a virtio 1.x device"
                          : !(get(STATUS) & S_FEATURES_OK) ? "it refused the features"
                          : (put(QUEUE_SEL, 0), get(QUEUE_NUM_MAX) < NUM) ? "its queue is too small"
                          : NULL;
    if (refused) {
        put(STATUS, S_FAILED);
        kprintf("Disk: the virtio-blk device at 0x%lx cannot be used: %s\n", VIRTIO_PA, refused);
        return -1;
    }
    put(QUEUE_NUM, NUM);
    put64(QUEUE_DESC, V2P(queue.desc));
    put64(QUEUE_DRIVER, V2P(&queue.avail));
    put64(QUEUE_DEVICE, V2P(&queue.used));
    put(QUEUE_READY, 1);
    for (int i = 0; i < NUM; i++) is_free[i] = 1;
    queue.avail.flags = VIRTQ_AVAIL_F_NO_INTERRUPT;    /* until processes can sleep */
    put(STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    *sectors = get(CONFIG) | (uint64_t)get(CONFIG + 4) << 32;
    *writable = !(low & 1 << F_RO);
    flush_offered = (low & 1 << F_FLUSH) != 0;
    irq_enable(IRQ_DISK);
    kprintf("Disk: virtio-blk at 0x%lx, %lu sectors, %s%s; IRQ %d -> %svector 0x%x%s\n",
            VIRTIO_PA, *sectors, *writable ? "read-write" : "read-only",
            flush_offered ? ", FLUSH" : "", IRQ_DISK, apic ? "IOAPIC -> " : "",
            IRQ_BASE + IRQ_DISK, apic ? " on CPU 0" : "");
    return 0;
}

/* Takes `n` free descriptors into d[]: 0, or -1 (none taken) if there are not that many. */
static int alloc(int *d, int n) {
    for (int i = 0, k = 0; i < NUM; i++) {
        if (!is_free[i]) continue;
        d[k++] = i;
        if (k == n) {
            for (k = 0; k < n; k++) is_free[d[k]] = 0;
            return 0;
        }
    }
    return -1;
}

/* Takes what the device has put in the used ring since the last call (under the lock). */
static void collect(void) {
    while (used_seen != *(volatile uint16_t *)&queue.used.idx) {
        __sync_synchronize();                          /* the entry after the index */
        uint32_t head = queue.used.ring[used_seen % NUM].id;
        if (head >= NUM) panic("virtio: the device gave back descriptor %u, not a head", head);
        reqs[head].done = 1;
        if (booted) wakeup(&reqs[head]);
        used_seen++;
    }
}

/* One request, from the chain to its status: 0 if the device answered OK, else -1. [tour:request] */
static int request(uint32_t type, uint64_t sector, void *buf, uint32_t len) {
    int d[3], n = len ? 3 : 2;
    acquire(&disk_lock);
    while (alloc(d, n) < 0) sleep_on(is_free, &disk_lock);
    int h = d[0];
    reqs[h].header = (struct blk_header){type, 0, sector};
    reqs[h].status = 0xFF;
    reqs[h].done = 0;
    queue.desc[d[0]] = (struct virtq_desc){V2P(&reqs[h].header), sizeof reqs[h].header,
                                           VIRTQ_DESC_F_NEXT, (uint16_t)d[1]};
    if (len)
        queue.desc[d[1]] = (struct virtq_desc){V2P(buf), len,
            (uint16_t)(VIRTQ_DESC_F_NEXT | (type == VIRTIO_BLK_T_IN ? VIRTQ_DESC_F_WRITE : 0)),
            (uint16_t)d[2]};
    queue.desc[d[n - 1]] = (struct virtq_desc){V2P(&reqs[h].status), 1, VIRTQ_DESC_F_WRITE, 0};
    queue.avail.flags = booted ? 0 : VIRTQ_AVAIL_F_NO_INTERRUPT;
    queue.avail.ring[queue.avail.idx % NUM] = (uint16_t)h;
    __sync_synchronize();                              /* the chain before the index */
    queue.avail.idx++;
    __sync_synchronize();                              /* the index before the notify */
    put(QUEUE_NOTIFY, 0);
    while (!reqs[h].done) {
        if (booted) {
            sleep_on(&reqs[h], &disk_lock);            /* virtio_interrupt wakes it */
        } else {
            __asm__ volatile("pause");
            collect();
        }
    }
    int ok = reqs[h].status == VIRTIO_BLK_S_OK;
    for (int i = 0; i < n; i++) is_free[d[i]] = 1;
    wakeup(is_free);
    release(&disk_lock);
    return ok ? 0 : -1;
}
/* [/tour:request] */

/* Reads or writes `count` sectors from `sector` on: 0, or -1 if the device failed it. */
int virtio_rw(uint64_t sector, void *buf, uint32_t count, int write) {
    return request(write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN, sector, buf, count * 512);
}

/* Everything written is on the disk. Without FLUSH the device writes through (5.2.6.1). */
int virtio_flush(void) {
    return flush_offered ? request(VIRTIO_BLK_T_FLUSH, 0, NULL, 0) : 0;
}

/* IRQ 5 (4.2.3.3): acknowledge what InterruptStatus says, then take the used ring. [tour:virtio-irq] */
void virtio_interrupt(void) {
    acquire(&disk_lock);
    uint32_t why = get(INTERRUPT_STATUS);
    put(INTERRUPT_ACK, why & 3);
    if ((why & 2) && (get(STATUS) & S_NEEDS_RESET))
        panic("virtio: the device needs a reset (it found the queue broken)");
    collect();
    release(&disk_lock);
}
/* [/tour:virtio-irq] */
