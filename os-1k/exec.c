/*
 * exec.c: starting a program: a new process running an ELF file from the file system, with its
 * arguments on its stack and the three descriptors its parent gives it. One call, spawn, in the
 * manner of posix_spawn (its argv, its file actions, its process group), where Unix has fork
 * and exec: chapter 10 says why.
 * References: System V ABI, AMD64 supplement, 3.4.1 "Initial Stack and Register State";
 * ELF-64 program headers (PT_LOAD).
 */
#include "kernel.h"

/* ELF64 headers, only the fields a loader needs. */
struct elf_header {
    uint8_t ident[16];
    uint16_t type, machine;
    uint32_t version;
    uint64_t entry, phoff, shoff;
    uint32_t flags;
    uint16_t ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct elf_phdr {
    uint32_t type, flags;
    uint64_t offset, vaddr, paddr, filesz, memsz, align;
};
#define MAX_PHDRS 8

/* Maps and fills the PT_LOAD segments of the program in inode `ino`; 0, or -ENOEXEC if it is
 * not one this kernel runs, -ENOMEM. */
static int load_program(uint64_t *pml4, int ino, uint64_t *entry) {
    struct elf_header eh;
    struct elf_phdr ph[MAX_PHDRS];
    uint64_t size = fs_size(ino);
    if (fs_read(ino, &eh, 0, sizeof eh) != sizeof eh || strncmp((const char *)eh.ident, "\x7f" "ELF", 4) ||
        eh.machine != EM_X86_64 || eh.phentsize != sizeof(struct elf_phdr) ||
        eh.phnum > MAX_PHDRS ||
        fs_read(ino, ph, eh.phoff, eh.phnum * sizeof ph[0]) != (ssize_t)(eh.phnum * sizeof ph[0]))
        return -ENOEXEC;
    for (int i = 0; i < eh.phnum; i++) {
        if (ph[i].type != PT_LOAD) continue;
        uint64_t vaddr = ph[i].vaddr, filesz = ph[i].filesz;
        if (vaddr < USER_BASE || vaddr >= USER_STACK - 0x10000 ||
            ph[i].memsz > USER_STACK - 0x10000 - vaddr ||
            filesz > ph[i].memsz || ph[i].offset > size || filesz > size - ph[i].offset)
            return -ENOEXEC;
        for (uint64_t va = vaddr & ~(PAGE_SIZE - 1); va < vaddr + ph[i].memsz; va += PAGE_SIZE) {
            uint64_t pa = page_alloc();
            if (!pa || vm_map(pml4, va, pa, PTE_W | PTE_U) < 0) return -ENOMEM;
            /* Read the part of the file that falls in this page; the rest stays zero. */
            uint64_t from = va < vaddr ? vaddr : va, to = vaddr + filesz;
            if (to > va + PAGE_SIZE) to = va + PAGE_SIZE;
            if (from < to &&
                fs_read(ino, (uint8_t *)P2V(pa) + (from - va), ph[i].offset + (from - vaddr),
                        to - from) != (ssize_t)(to - from))
                return -ENOEXEC;
        }
    }
    *entry = eh.entry;
    return 0;
}

/*
 * The stack a program starts on (System V ABI, AMD64, 3.4.1), in the top one of its two pages:
 *
 *   USER_STACK  ─▶ the argument strings, each with its NUL
 *                  (padding to 16 bytes)
 *                  0, 0              auxiliary vector: AT_NULL only
 *                  0                 environment: none
 *                  0                 argv[argc]
 *                  argv[argc - 1] ... argv[0]: the strings' addresses
 *   RSP         ─▶ argc              16-byte aligned
 *
 * `top` is the kernel's address of that page; returns the process's RSP.
 */
/* [tour:user-stack] */
static uint64_t push_arguments(uint8_t *top, char *const argv[], int argc) {
    uint64_t sp = USER_STACK, addr[SPAWN_MAX_ARGS];
    for (int i = argc - 1; i >= 0; i--) {
        size_t len = strlen(argv[i]) + 1;
        sp -= len;
        memcpy(top + (sp - (USER_STACK - PAGE_SIZE)), argv[i], len);
        addr[i] = sp;
    }
    sp &= ~15UL;
    int words = 1 + argc + 1 + 1 + 2;          /* argc, argv[] and NULL, envp NULL, AT_NULL */
    if (words % 2) sp -= 8;                    /* so that RSP ends 16-byte aligned */
    sp -= 8UL * words;
    uint64_t *w = (uint64_t *)(top + (sp - (USER_STACK - PAGE_SIZE)));
    *w++ = (uint64_t)argc;
    for (int i = 0; i < argc; i++) *w++ = addr[i];
    for (int i = 0; i < 4; i++) *w++ = 0;
    return sp;
}
/* [/tour:user-stack] */

/*
 * Starts the program `path` with arguments argv[0..argc) (the caller checked their count and
 * size: SPAWN_MAX_ARGS, SPAWN_ARG_BYTES), the descriptions `fd` as its 0, 1, 2 (NULL: none),
 * in process group `pgid` (SPAWN_NEW_GROUP: its own). Returns its pid, or -ENOENT, -ENOEXEC,
 * -EAGAIN, -ENOMEM.
 */
int spawn(const char *path, char *const argv[], int argc, struct file *fd[3], int pgid,
          int foreground) {
    int ino = fs_lookup(path);
    if (ino < 0) return ino;
    struct proc *p = proc_alloc();
    if (!p) return -EAGAIN;
    uint64_t entry, stack_pa = 0;
    fs_ref(ino, 1);                            /* the file stays while it is read */
    int r = (p->pml4 = vm_new()) ? load_program(p->pml4, ino, &entry) : -ENOMEM;
    fs_ref(ino, -1);
    /* The user stack: two pages under USER_STACK, the arguments in the top one. */
    for (uint64_t va = USER_STACK - 2 * PAGE_SIZE; va < USER_STACK && !r; va += PAGE_SIZE)
        if (!(stack_pa = page_alloc()) || vm_map(p->pml4, va, stack_pa, PTE_W | PTE_U) < 0)
            r = -ENOMEM;
    if (r) {
        if (p->pml4) vm_free(p->pml4);
        proc_free(p);
        return r;
    }
    uint64_t rsp = push_arguments(P2V(stack_pa), argv, argc);
    for (int i = 0; i < 3; i++) p->ofile[i] = fd[i] ? file_dup(fd[i]) : NULL;
    const char *name = path;
    while (*name == '/') name++;
    pgid = pgid == SPAWN_NEW_GROUP ? p->pid : pgid;
    if (foreground) console_foreground(pgid);
    int pid = p->pid;                          /* once it runs, it may end at once */
    proc_start(p, name, pgid, entry, rsp);
    return pid;
}
