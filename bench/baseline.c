/*
 * baseline.c: the smallest raw-KVM program that runs the bench guests, to measure mini-kvm
 * against. No error recovery beyond a message, no devices beyond what the guests touch.
 *
 *   baseline GUEST.bin [VCPUS]
 *
 * Open /dev/kvm, create a VM, give each vCPU a 256 KiB slot (GPA i * 256 KiB) holding the
 * flat binary, start it in real mode at CS = i * 0x4000, IP = 0, and loop on KVM_RUN:
 * KVM_EXIT_HLT stops; port I/O to COM1 (0x3F8-0x3FF) and MMIO are ignored; port 0x500 is the
 * hypercall port: KVM_GET_REGS, AL = 1 writes BL with write(2), AL = 0 stops.
 *
 *   baseline --virtio-blk IMAGE KERNEL.bin
 *
 * The same for a virtio-blk disk (bench/guests/blk.asm), as raw as it goes: a Multiboot
 * kernel in 4 MiB of RAM, entered in 32-bit protected mode with the in-kernel irqchip, and
 * the registers of a virtio-mmio block device at 0xD0000000 answered with constants on MMIO
 * exits. Its disk thread waits on a KVM_IOEVENTFD at QueueNotify, copies and checks each
 * request's descriptors and header, preads the sectors straight into guest RAM, fills the used
 * ring and signals a KVM_IRQFD on GSI 5: what mini-kvm's src/virtio does per request, with no
 * layers, no locks and no second copy. AL = 3 on the hypercall port exits with status BL.
 * Reference: Documentation/virt/kvm/api.rst; virtio 1.2, 2.7 and 4.2.2.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <string.h>
#include <sys/eventfd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define SLOT 0x40000

static int kvm, vm, run_size;
static uint8_t *ram;

static void die(const char *what) {
    perror(what);
    exit(1);
}

static void *vcpu_thread(void *arg) {
    long i = (long)arg;
    int fd = ioctl(vm, KVM_CREATE_VCPU, i);
    if (fd < 0) die("KVM_CREATE_VCPU");
    struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (run == MAP_FAILED) die("mmap kvm_run");
    struct kvm_sregs sregs;
    if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
    struct kvm_segment *segs[] = {&sregs.cs, &sregs.ds, &sregs.es, &sregs.fs, &sregs.gs, &sregs.ss};
    for (int s = 0; s < 6; s++) {
        segs[s]->selector = i * (SLOT >> 4);
        segs[s]->base = i * SLOT;
    }
    if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
    struct kvm_regs regs = {.rip = 0, .rflags = 2};
    if (ioctl(fd, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");
    /* [tour:baseline-loop] */
    for (;;) {
        if (ioctl(fd, KVM_RUN, 0) < 0) die("KVM_RUN");
        switch (run->exit_reason) {
        case KVM_EXIT_HLT:
            return NULL;
        case KVM_EXIT_MMIO:
            break;
        case KVM_EXIT_IO:
            if (run->io.port == 0x500 && run->io.direction == KVM_EXIT_IO_OUT) {
                if (ioctl(fd, KVM_GET_REGS, &regs) < 0) die("KVM_GET_REGS");
                uint8_t al = regs.rax, bl = regs.rbx;
                if (al == 0) return NULL;
                if (al == 1 && write(1, &bl, 1) != 1) die("write");
            }
            break;
        default:
            fprintf(stderr, "unexpected exit %u\n", run->exit_reason);
            exit(1);
        }
    }
    /* [/tour:baseline-loop] */
}

/* --virtio-blk: the device's state (4.2.2 registers) and its queue's, in guest RAM. */
#define VBLK_BASE 0xD0000000ULL
#define VBLK_RAM (4 << 20)
static int img_fd, notify_fd, irq_fd;
static uint64_t capacity, q_desc, q_avail, q_used;
static uint32_t vstatus, feat_sel, q_num, isr;

static int in_ram(uint64_t addr, uint64_t len) { return addr <= VBLK_RAM && len <= VBLK_RAM - addr; }

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };

/* One request: its chain copied and checked, its header read, the sectors preaded into guest
 * RAM, the status byte written: the used length. */
static uint32_t vblk_serve(uint16_t head) {
    struct desc d[3];
    int n = 0;
    for (uint16_t i = head;; i = d[n - 1].next) {
        if (i >= q_num || n == 3) return 0;
        memcpy(&d[n], ram + q_desc + 16 * i, 16);
        if (!in_ram(d[n].addr, d[n].len)) return 0;
        if (!(d[n++].flags & 1)) break;
    }
    if (n != 3 || d[0].len < 16 || (d[0].flags & 2) || !(d[1].flags & 2) || !(d[2].flags & 2) || !d[2].len)
        return 0;
    struct { uint32_t type, reserved; uint64_t sector; } h;
    memcpy(&h, ram + d[0].addr, 16);
    uint64_t sectors = d[1].len / 512;
    int ok = h.type == 0 && d[1].len % 512 == 0 && h.sector < capacity && sectors <= capacity - h.sector &&
             pread(img_fd, ram + d[1].addr, d[1].len, h.sector * 512) == (ssize_t)d[1].len;
    ram[d[2].addr] = ok ? 0 : 1;
    return ok ? d[1].len + 1 : 1;
}

static void *vblk_thread(void *arg) {
    (void)arg;
    uint16_t next = 0;
    uint64_t count;
    while (read(notify_fd, &count, 8) == 8) {
        volatile uint16_t *avail = (volatile uint16_t *)(ram + q_avail);
        volatile uint16_t *used_idx = (volatile uint16_t *)(ram + q_used + 2);
        int served = 0;
        while (next != avail[1]) {
            __atomic_thread_fence(__ATOMIC_ACQUIRE);
            uint32_t elem[2] = {avail[2 + next % q_num], 0};
            elem[1] = vblk_serve((uint16_t)elem[0]);
            memcpy(ram + q_used + 4 + 8 * (next % q_num), elem, 8);
            __atomic_thread_fence(__ATOMIC_RELEASE);
            *used_idx = ++next;
            served = 1;
        }
        if (served && !(avail[0] & 1)) {
            __atomic_fetch_or(&isr, 1, __ATOMIC_SEQ_CST);
            uint64_t one = 1;
            if (write(irq_fd, &one, 8) != 8) die("irqfd");
        }
    }
    return NULL;
}

/* An MMIO exit in the device's page: the registers the driver uses. */
static void vblk_mmio(struct kvm_run *run) {
    uint64_t off = run->mmio.phys_addr - VBLK_BASE;
    uint32_t v = 0;
    if (run->mmio.phys_addr < VBLK_BASE || off >= 0x200) return;
    if (!run->mmio.is_write) {
        switch (off) {
        case 0x00: v = 0x74726976; break;                  /* "virt" */
        case 0x04: case 0x08: v = 2; break;                /* version 2, a block device */
        case 0x10: v = feat_sel ? 1 : 1 << 9; break;       /* VERSION_1; FLUSH */
        case 0x34: v = 256; break;                         /* QueueNumMax */
        case 0x60: v = __atomic_load_n(&isr, __ATOMIC_SEQ_CST); break;
        case 0x70: v = vstatus; break;
        case 0x100: v = (uint32_t)capacity; break;
        case 0x104: v = (uint32_t)(capacity >> 32); break;
        }
        memcpy(run->mmio.data, &v, 4);
        return;
    }
    memcpy(&v, run->mmio.data, 4);
    uint64_t *half[] = {&q_desc, &q_avail, &q_used};
    switch (off) {
    case 0x14: feat_sel = v; break;
    case 0x38: q_num = v; break;
    case 0x64: __atomic_fetch_and(&isr, ~v, __ATOMIC_SEQ_CST); break;
    case 0x70:
        vstatus = v;
        if ((v & 4) && (!q_num || q_num > 256 || (q_num & (q_num - 1)) || !in_ram(q_desc, 16 * q_num) ||
                        !in_ram(q_avail, 6 + 2 * q_num) || !in_ram(q_used, 6 + 8 * q_num)))
            die("the driver's queue");
        break;
    case 0x80: case 0x90: case 0xA0: *half[(off - 0x80) / 16] = v; break;
    case 0x84: case 0x94: case 0xA4: *half[(off - 0x84) / 16] |= (uint64_t)v << 32; break;
    }
}

static int vblk_main(char **argv) {
    img_fd = open(argv[2], O_RDONLY);
    if (img_fd < 0) die(argv[2]);
    capacity = lseek(img_fd, 0, SEEK_END) / 512;
    int kernel = open(argv[3], O_RDONLY);
    if (kernel < 0) die(argv[3]);
    static uint8_t file[VBLK_RAM / 2];
    ssize_t len = read(kernel, file, sizeof file);
    uint32_t *h = NULL;
    for (ssize_t at = 0; at + 32 <= len && at < 8192 && !h; at += 4)
        if (*(uint32_t *)(file + at) == 0x1BADB002) h = (uint32_t *)(file + at);
    if (!h) die("no Multiboot header");
    uint32_t base = h[3] - (uint32_t)((uint8_t *)h - file);   /* header_addr: where file[0] goes */
    if (!in_ram(base, len)) die("the kernel's load address");
    vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) die("KVM_CREATE_VM");
    if (ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) die("KVM_CREATE_IRQCHIP");
    ram = mmap(NULL, VBLK_RAM, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED) die("mmap");
    memcpy(ram + base, file, len);
    struct kvm_userspace_memory_region r = {.slot = 0, .memory_size = VBLK_RAM, .userspace_addr = (uint64_t)ram};
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0) die("KVM_SET_USER_MEMORY_REGION");
    notify_fd = eventfd(0, EFD_CLOEXEC);
    irq_fd = eventfd(0, EFD_CLOEXEC);
    struct kvm_ioeventfd io = {.addr = VBLK_BASE + 0x50, .len = 4, .fd = notify_fd};
    if (ioctl(vm, KVM_IOEVENTFD, &io) < 0) die("KVM_IOEVENTFD");
    struct kvm_irqfd irq = {.fd = (uint32_t)irq_fd, .gsi = 5};
    if (ioctl(vm, KVM_IRQFD, &irq) < 0) die("KVM_IRQFD");
    int fd = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (fd < 0) die("KVM_CREATE_VCPU");
    static struct { struct kvm_cpuid2 c; struct kvm_cpuid_entry2 e[256]; } cpuid = {.c.nent = 256};
    if (ioctl(kvm, KVM_GET_SUPPORTED_CPUID, &cpuid) < 0 || ioctl(fd, KVM_SET_CPUID2, &cpuid) < 0) die("CPUID");
    struct kvm_run *run = mmap(NULL, run_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (run == MAP_FAILED) die("mmap kvm_run");
    struct kvm_sregs sregs;
    if (ioctl(fd, KVM_GET_SREGS, &sregs) < 0) die("KVM_GET_SREGS");
    struct kvm_segment code = {.limit = 0xFFFFFFFF, .selector = 8, .type = 11, .present = 1, .db = 1, .s = 1, .g = 1};
    struct kvm_segment data = code;
    data.selector = 0x10, data.type = 3;
    sregs.cs = code, sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
    sregs.cr0 |= 1;                                          /* protected mode, no paging */
    if (ioctl(fd, KVM_SET_SREGS, &sregs) < 0) die("KVM_SET_SREGS");
    struct kvm_regs regs = {.rip = h[7], .rax = 0x2BADB002, .rflags = 2};
    if (ioctl(fd, KVM_SET_REGS, &regs) < 0) die("KVM_SET_REGS");
    pthread_t disk;
    pthread_create(&disk, NULL, vblk_thread, NULL);
    for (;;) {
        if (ioctl(fd, KVM_RUN, 0) < 0) die("KVM_RUN");
        if (run->exit_reason == KVM_EXIT_MMIO) {
            vblk_mmio(run);
        } else if (run->exit_reason == KVM_EXIT_IO && run->io.port == 0x500 && run->io.direction == KVM_EXIT_IO_OUT) {
            if (ioctl(fd, KVM_GET_REGS, &regs) < 0) die("KVM_GET_REGS");
            uint8_t al = regs.rax, bl = regs.rbx;
            if (al == 0) return 0;
            if (al == 3) return bl;
            if (al == 1 && write(1, &bl, 1) != 1) die("write");
        } else if (run->exit_reason != KVM_EXIT_IO) {
            fprintf(stderr, "unexpected exit %u\n", run->exit_reason);
            exit(1);
        }
    }
}

int main(int argc, char **argv) {
    if (argc == 4 && !strcmp(argv[1], "--virtio-blk")) {
        kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
        if (kvm < 0) die("/dev/kvm");
        run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
        return vblk_main(argv);
    }
    if (argc < 2) {
        fprintf(stderr, "usage: baseline GUEST.bin [VCPUS] | baseline --virtio-blk IMAGE KERNEL.bin\n");
        return 2;
    }
    long n = argc > 2 ? atol(argv[2]) : 1;
    kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) die("/dev/kvm");
    vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) die("KVM_CREATE_VM");
    run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    ram = mmap(NULL, n * SLOT, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (ram == MAP_FAILED) die("mmap");
    int img = open(argv[1], O_RDONLY);
    if (img < 0) die(argv[1]);
    ssize_t len = read(img, ram, SLOT);
    if (len <= 0) die("read");
    for (long i = 0; i < n; i++) {
        if (i) for (ssize_t b = 0; b < len; b++) ram[i * SLOT + b] = ram[b];
        struct kvm_userspace_memory_region r = {
            .slot = i, .guest_phys_addr = i * SLOT, .memory_size = SLOT,
            .userspace_addr = (uint64_t)(ram + i * SLOT)};
        if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &r) < 0) die("KVM_SET_USER_MEMORY_REGION");
    }
    pthread_t t[64];
    for (long i = 0; i < n && i < 64; i++) pthread_create(&t[i], NULL, vcpu_thread, (void *)i);
    for (long i = 0; i < n && i < 64; i++) pthread_join(t[i], NULL);
    return 0;
}
