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
# The tests write to /tmp: a tmpfs of the guest's own over the host's read-only one. A checkout
# (or target dir) that lives under /tmp itself (`lane_keep=DIR,DIR`) would vanish beneath it,
# so each is bound aside first and put back inside the tmpfs.
keep_dirs=$(echo "${lane_keep:-}" | tr ',' ' ')
i=0
for d in $keep_dirs; do
    mkdir -p "/keep/$i" && mount --bind "/host$d" "/keep/$i" || fail "keeping $d failed"
    i=$((i + 1))
done
mount -t tmpfs tmpfs /host/tmp || fail "mounting a tmpfs on /tmp failed"
i=0
for d in $keep_dirs; do
    mkdir -p "/host$d" && mount --bind "/keep/$i" "/host$d" || fail "putting $d back failed"
    i=$((i + 1))
done
mount -t tmpfs tmpfs /host/dev/shm || true

[ -n "$lane_job" ] || fail "no lane_job= on the kernel command line"
say "running $lane_job"
chroot /host /bin/sh "$lane_job"
say "job ended with status $?"
poweroff -f
