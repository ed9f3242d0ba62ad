#!/bin/sh
# Linux boot, mini-kvm against `qemu-system-x86_64 -enable-kvm`, same kernel, same initramfs,
# one after the other: the kernel's own uptime when it starts /init, and the wall time from
# starting the VMM to its exit after the guest's `reboot -f` (triple fault with reboot=t;
# QEMU's -no-reboot turns it into an exit). Run by `make bench` where this host's KVM can boot
# Linux, and on the real-KVM lane with
#   LANE_COMMAND='sh bench/linux.sh KERNEL INITRD' bash tests/real-kvm/lane.sh
# usage: bench/linux.sh KERNEL INITRD [MINI_KVM]
set -u
kernel=$1 initrd=$2
mini_kvm=${3:-${CARGO_TARGET_DIR:-target}/release/mini-kvm}
cmdline="console=ttyS0 reboot=t pci=off -- reboot -f"
out=${TMPDIR:-/tmp}/mini-kvm-bench-linux.$$
now() { date +%s%N; }
one() { # name command...
    name=$1
    shift
    t0=$(now)
    "$@" >"$out" 2>&1 </dev/null
    status=$?
    wall=$(( ($(now) - t0) / 1000000 ))
    init=$(tr -d '\r' <"$out" | sed -n 's/^\[ *\([0-9.]*\)\] Run \/init.*/\1/p' | head -n1)
    printf '%-32s %18s %16s %7s\n' "$name" "${init:-?} s" "$((wall / 1000)).$(printf %03d $((wall % 1000))) s" "$status"
}
printf '%-32s %18s %16s %7s\n' "Linux boot" "to /init (uptime)" "to exit (wall)" "status"
one "mini-kvm --linux" timeout 300 "$mini_kvm" --linux "$kernel" --initrd "$initrd" --cmdline "$cmdline"
if command -v qemu-system-x86_64 >/dev/null; then
    one "qemu-system-x86_64 -enable-kvm" timeout 300 qemu-system-x86_64 -enable-kvm -cpu host \
        -m 256M -smp 1 -nographic -no-reboot -nic none -kernel "$kernel" -initrd "$initrd" \
        -append "$cmdline"
else
    echo "qemu-system-x86_64 -enable-kvm: not installed (apt-get install qemu-system-x86)"
fi
rm -f "$out"
