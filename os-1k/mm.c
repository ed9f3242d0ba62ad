/*
 * mm.c: physical pages and address spaces.
 * References: Multiboot Specification 3.3 (the memory map); Intel SDM Vol. 3A, 4.5 (4-level
 * paging) and 4.6 (access rights: the U/S bit).
 *
 * Physical memory comes from the Multiboot memory map: every "available" range above the
 * kernel, handed out one 4 KiB page at a time from the front (a bump pointer), freed pages kept
 * on a list threaded through the pages themselves. A page is zeroed when it is handed out, and
 * only then: an emulated CPU zeroes about 20 KiB per millisecond. The spinlock `kmem` guards
 * the list and the regions; the zeroing happens after it is released.
 *
 * Every process has its own PML4. Its top entry is the kernel's (the higher half, supervisor
 * only: ring 3 cannot touch it); the bottom half holds the process's pages, marked U/S.
 *
 * Devices' registers (the LAPICs, the I/O APIC, the virtio disk) are in the top GiB of the
 * 4 GiB physical space, which the boot tables do not map: mmio_map maps them, uncached, in
 * the top GiB of virtual space, where physical pa is virtual pa | 0xFFFFFFFF00000000.
 */
#include "kernel.h"

struct mb_info {
    uint32_t flags, mem_lower, mem_upper, boot_device, cmdline, mods_count, mods_addr;
    uint32_t syms[4], mmap_length, mmap_addr;
};
struct mb_mmap_entry {
    uint32_t size;
    uint64_t addr, len;
    uint32_t type;
} __attribute__((packed));
struct mb_module {
    uint32_t start, end, string, reserved;
};

#define MAX_REGIONS 8
static struct { uint64_t next, end; } regions[MAX_REGIONS];
static int nregions, region;
static uint64_t free_list;             /* physical address of the first freed page */
static struct spinlock kmem = SPINLOCK("kmem");
uint64_t free_pages, total_pages;
uint64_t *kernel_pml4;

extern uint64_t boot_pml4[];
extern char kernel_end[];

#define PTE_PWT 0x008                  /* write-through, and with PCD: uncached */
#define PTE_PCD 0x010
static uint64_t mmio_pd[512] __attribute__((aligned(4096)));   /* physical 3-4 GiB */

static inline void load_cr3(uint64_t pa) { __asm__ volatile("mov %0, %%cr3" :: "r"(pa) : "memory"); }

void mm_init(uint64_t info_pa) {
    struct mb_info *mb = P2V(info_pa);
    uint64_t first_free = V2P(kernel_end);     /* nothing below the end of the kernel... */
    if (mb->flags & (1 << 3)) {                /* ...or of any module */
        struct mb_module *m = P2V(mb->mods_addr);
        for (uint32_t i = 0; i < mb->mods_count; i++)
            if (m[i].end > first_free) first_free = m[i].end;
    }
    first_free = (first_free + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
    if (!(mb->flags & (1 << 6))) panic("the boot loader gave no memory map");
    uint64_t ram = 0;
    uint8_t *p = P2V(mb->mmap_addr), *end = p + mb->mmap_length;
    while (p < end && nregions < MAX_REGIONS) {
        struct mb_mmap_entry *e = (struct mb_mmap_entry *)p;
        p += e->size + 4;                      /* `size` does not count itself */
        if (e->type != 1) continue;
        ram += e->len;
        uint64_t start = e->addr, stop = e->addr + e->len;
        if (start < first_free) start = first_free;
        if (stop > 0x40000000) stop = 0x40000000;  /* the boot tables map 1 GiB */
        start = (start + PAGE_SIZE - 1) & ~(PAGE_SIZE - 1);
        stop &= ~(PAGE_SIZE - 1);
        if (start >= stop) continue;
        regions[nregions].next = start;
        regions[nregions].end = stop;
        nregions++;
        total_pages += (stop - start) / PAGE_SIZE;
    }
    free_pages = total_pages;
    kernel_pml4 = boot_pml4;
    kernel_pml4[0] = 0;                        /* the identity map was only for the jump */
    load_cr3(V2P(kernel_pml4));
    if (mb->flags & 1) ram = ((uint64_t)mb->mem_upper + 1024) * 1024;   /* 1 MiB + upper */
    kprintf("Memory: %lu MiB of RAM (Multiboot memory map), %lu pages free from %p\n",
            ram >> 20, total_pages, first_free);
}

/* Maps the 2 MiB page of physical 3-4 GiB that holds `pa`, uncached; returns pa's address. */
volatile uint32_t *mmio_map(uint64_t pa) {
    uint64_t *pdpt = P2V(kernel_pml4[511] & PTE_ADDR);
    pdpt[511] = V2P(mmio_pd) | PTE_P | PTE_W;
    mmio_pd[(pa >> 21) & 511] = (pa & ~0x1FFFFFUL) | PTE_P | PTE_W | PTE_PS | PTE_PCD | PTE_PWT;
    return (volatile uint32_t *)(pa | 0xFFFFFFFF00000000UL);
}

uint64_t page_alloc(void) {
    uint64_t pa = 0;
    acquire(&kmem);
    if (free_list) {
        pa = free_list;
        free_list = *(uint64_t *)P2V(pa);
    } else {
        while (region < nregions && regions[region].next >= regions[region].end) region++;
        if (region < nregions) {
            pa = regions[region].next;
            regions[region].next += PAGE_SIZE;
        }
    }
    if (pa) free_pages--;
    release(&kmem);
    if (pa) memset(P2V(pa), 0, PAGE_SIZE);
    return pa;
}

void page_free(uint64_t pa) {
    acquire(&kmem);
    *(uint64_t *)P2V(pa) = free_list;
    free_list = pa;
    free_pages++;
    release(&kmem);
}

/* [tour:vm-new] */
uint64_t *vm_new(void) {
    uint64_t pa = page_alloc();
    if (!pa) return NULL;
    uint64_t *pml4 = P2V(pa);
    pml4[511] = kernel_pml4[511];              /* share the kernel's half */
    return pml4;
}

/* The page-table entry for va, creating the tables on the way if `create`. */
static uint64_t *walk(uint64_t *pml4, uint64_t va, int create) {
    uint64_t *table = pml4;
    for (int shift = 39; shift > 12; shift -= 9) {
        uint64_t *e = &table[(va >> shift) & 511];
        if (!(*e & PTE_P)) {
            if (!create) return NULL;
            uint64_t pa = page_alloc();
            if (!pa) return NULL;
            *e = pa | PTE_P | PTE_W | PTE_U;   /* leaf entries decide the real rights */
        }
        table = P2V(*e & PTE_ADDR);
    }
    return &table[(va >> 12) & 511];
}
/* [/tour:vm-new] */

int vm_map(uint64_t *pml4, uint64_t va, uint64_t pa, uint64_t flags) {
    uint64_t *pte = walk(pml4, va, 1);
    if (!pte) return -1;
    *pte = pa | flags | PTE_P;
    return 0;
}

/* Frees a process's pages and tables (never the shared kernel half). */
static void free_level(uint64_t *table, int level) {
    for (int i = 0; i < 512; i++) {
        if (!(table[i] & PTE_P)) continue;
        uint64_t pa = table[i] & PTE_ADDR;
        if (level > 1) free_level(P2V(pa), level - 1);
        else page_free(pa);
    }
    page_free(V2P(table));
}

void vm_free(uint64_t *pml4) {
    for (int i = 0; i < 256; i++)
        if (pml4[i] & PTE_P) free_level(P2V(pml4[i] & PTE_ADDR), 3);
    page_free(V2P(pml4));
}

/* Is [va, va+len) mapped for ring 3 (and writable, if asked)? System calls check every user
 * pointer with this before the kernel touches it: a bad pointer is an error, not a panic. */
int user_range_ok(uint64_t *pml4, uint64_t va, uint64_t len, int write) {
    if (va >= USER_TOP || len > USER_TOP - va) return 0;
    for (uint64_t page = va & ~(PAGE_SIZE - 1); page < va + len; page += PAGE_SIZE) {
        uint64_t *pte = walk(pml4, page, 0);
        if (!pte || !(*pte & PTE_P) || !(*pte & PTE_U)) return 0;
        if (write && !(*pte & PTE_W)) return 0;
    }
    return 1;
}
