//! What mini-kvm says about itself: `--help` (cli.rs holds the options it describes; a unit
//! test there checks that every option is shown, with the value it takes) and `--list`.

use crate::error::Ending;

/// Informational output to stdout; one that cannot be written (a full disk, a closed pipe)
/// is an error, status 1.
pub fn say(text: &str) -> Result<(), Ending> {
    use std::io::Write;
    let written = std::io::stdout().lock().write_all(text.as_bytes());
    written.map_err(|e| Ending::Host(format!("writing to stdout failed: {e}")))
}

/// `--list`: the built-in guests.
pub fn list() -> String {
    let mut text = String::from("Built-in guests (run with: mini-kvm NAME):\n");
    for g in crate::guests::EMBEDDED {
        text.push_str(&format!("  {:<22} {}\n", g.name, g.description));
    }
    text
}

pub const HELP: &str = "\
mini-kvm: an educational x86 hypervisor on the Linux KVM API.

usage: mini-kvm [OPTIONS] GUEST...
       mini-kvm [OPTIONS] --linux BZIMAGE [--initrd FILE] [--cmdline STR] [--mem SIZE]

Runs each GUEST on its own vCPU (1 to 4) of one VM: the guests share its
physical memory and its COM1; GETCHAR input goes to vCPU 0 only. A GUEST is a
file, or the name of a guest built into mini-kvm (see --list). A file is a flat
binary (16-bit real mode, at most 256 KiB, unless --long-mode: at most 4 MiB
less 84 KiB, or --paging: within 4 MiB) or, recognised from its contents, a
Multiboot kernel (ELF32 or ELF64), which runs alone with an interrupt
controller, a timer and 32 MiB of RAM (--mem).

Options:
  -h, --help          show this help and exit
  -V, --version       show the version and exit
      --list          list the built-in guests and exit
      --host-check[=keys]  run tiny probe guests to show what this host's KVM can
                      do (keys: one `name value` line per fact, for scripts)
  -v, --verbose       explain each setup step on stderr, and each vCPU's exits at the end
      --stats         print exit counts and timings per vCPU on stderr at the end
      --trace[=CLASSES]  explain every VM exit on stderr, one line each; CLASSES
                      (comma-separated): io hypercall uart mmio hlt fault irq kick
                      debug virtio, all (default: all but kick and virtio)
      --timeout SECS  stop after SECS seconds, loading included (decimals allowed,
                      0.001 to 1e9): status 124
      --color WHEN    colour the [N] line prefixes of several vCPUs: auto, always, never
                      (auto: only on a terminal and when NO_COLOR is unset)
      --mem SIZE      guest RAM for a kernel, e.g. 64M (default 32M for Multiboot, 256M
                      for --linux; 2M to 16G, a multiple of 4K; past 3G it continues at
                      4G); kernel, modules, initrd and command line must fit in the first 3G
      --cpus N        CPUs of a kernel (Multiboot or --linux): 1 to 8, default 1; the
                      kernel starts the others (INIT/SIPI) from the MP table mini-kvm writes
                      (or, for --linux with --disk, from the ACPI tables' MADT)
      --cmdline STR   the kernel command line (Multiboot or --linux; at most 4096 bytes,
                      and at most the bzImage's cmdline_size; --linux default:
                      console=ttyS0 earlyprintk=serial reboot=t pci=off)
      --linux BZIMAGE boot a Linux kernel through the x86 boot protocol (64-bit entry,
                      in-kernel PIC/IOAPIC/PIT, COM1 as ttyS0); it needs a KVM
                      that runs ordinary kernels (not a paravirtual one: see --host-check)
      --initrd FILE   (with --linux) the initial RAM disk, e.g. a cpio archive
      --linux-entry 32|64  (with --linux) the boot protocol's entry: 64 (default,
                      startup_64 with mini-kvm's page tables) or 32 (startup_32, paging off)
      --disk FILE[,ro]  give a kernel a virtio-blk disk (virtio-mmio at 0xd0000000, IRQ 5):
                      FILE, an image of whole 512-byte sectors, or a block device, locked
                      while mini-kvm runs (,ro: read-only, and shareable). The 1K OS always
                      has a disk: a missing FILE is created from its built-in 4 MiB image;
                      without --disk it gets a copy in memory, whose writes last for the run.
                      With --linux the disk is described in ACPI tables (Linux's virtio_mmio
                      finds it there: /dev/vda), and Linux then uses no 8259 PIC and no PIT
      --module FILE   load FILE as a Multiboot module (repeatable: at most 32, their
                      names 16 KiB together; Multiboot kernels only)
      --gdb PORT      wait for gdb on 127.0.0.1:PORT before the first instruction
                      (then: gdb -ex 'target remote :PORT'; mini-kvm prints the command;
                      PORT 0 picks a free port and prints it)
      --no-seccomp    do not confine mini-kvm with its seccomp system-call filter
                      (it is on by default from the first KVM_RUN; see --host-check)
      --no-coalesce   let every COM1 THR write exit (by default, with one vCPU and
                      KVM_CAP_COALESCED_PIO, KVM queues them in its coalesced ring)
      --long-mode     (C VMM option) run a flat 64-bit guest
      --paging        (C VMM option) run a 32-bit paged flat kernel at --entry/--load
      --entry ADDR    (with --paging) entry point, default 0x80001000
      --load OFF      (with --paging) load offset, default 0x1000

Guest I/O: port 0x500 hypercalls (AL = call, BL = argument): 0 EXIT, 1 PUTCHAR,
2 GETCHAR (then IN from 0x500: the byte, 0xFF = none yet, 0x04 = input ended),
3 EXIT with status BL. COM1 (16550A UART) at 0x3F8. Guest output goes to
stdout, mini-kvm's messages to stderr. On a terminal, keys go to the guest
(Ctrl-C included); Ctrl-A x quits, Ctrl-A Ctrl-A sends Ctrl-A.

Exit status:
  0    every vCPU stopped normally (EXIT, or HLT), or the guest switched the
       machine off (cli; hlt for good) or reset it (triple fault, i8042 0xFE)
  N    the guest's own status from EXIT_STATUS (the first non-zero one)
  1    host or KVM failure while running
  2    usage error
  3    a guest image cannot be used (missing, directory, empty, too large...), or a
       --disk image (a directory or FIFO, not whole sectors, in use by another
       mini-kvm, a 1K OS disk of another format version...)
  4    /dev/kvm missing or unusable (set MINI_KVM_DEVICE to use another path), or
       this KVM cannot run the mode asked for (--paging, --linux on a paravirtual KVM)
  5    guest fault (triple fault, emulation failure, failed entry, unknown hypercall)
  124  --timeout expired
  130  stopped by SIGINT/SIGTERM/SIGHUP, Ctrl-A x or gdb's kill
";
