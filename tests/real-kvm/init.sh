#!/bin/busybox sh
# /init of the real-KVM lane's nested guest (tests/real-kvm/lane.sh builds the initramfs).
#
# It runs under QEMU's software CPU with AMD SVM, loads kvm_amd so that /dev/kvm is a real
# (SVM) KVM, mounts the host's root read-only over 9p (virtio), and runs the job script the
# lane wrote (`lane_job=PATH` on the kernel command line: the kernel hands unknown `key=value`
# parameters to init as environment variables) in a chroot of the host's files. Everything it
# prints goes to the serial console, which the lane reads. It always powers off.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
say() { echo "lane: $*"; }
fail() { say "error: $*"; poweroff -f; }

# Module order follows their `depends=` (kvm needs irqbypass; kvm-amd needs kvm and ccp; the
# 9p file system needs virtio and the 9p transport).
for m in $(cat /modules/order); do
    insmod "/modules/$m" || fail "insmod $m failed"
done
[ -c /dev/kvm ] || fail "kvm_amd loaded but there is no /dev/kvm (is SVM offered by QEMU's -cpu?)"
ip link set lo up || fail "no loopback interface"

mkdir -p /host
mount -t 9p -o trans=virtio,version=9p2000.L,ro hostroot /host || fail "mounting the host's root over 9p failed"
for d in dev proc sys; do mount --bind "/$d" "/host/$d" || fail "bind-mounting /$d failed"; done
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /host/dev/pts || fail "mounting devpts failed"
mount -t tmpfs tmpfs /host/tmp || fail "mounting a tmpfs on /tmp failed"
mount -t tmpfs tmpfs /host/dev/shm || true

[ -n "$lane_job" ] || fail "no lane_job= on the kernel command line"
say "running $lane_job"
chroot /host /bin/sh "$lane_job"
say "job ended with status $?"
poweroff -f
