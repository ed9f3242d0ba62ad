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
 * Reference: Documentation/virt/kvm/api.rst.
 */
#include <fcntl.h>
#include <linux/kvm.h>
#include <pthread.h>
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

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: baseline GUEST.bin [VCPUS]\n");
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
