#!/usr/bin/env bash
# `make linux`: builds a busybox initramfs (linux/init as /init) and boots it with this host's
# own kernel under mini-kvm: `mini-kvm --linux KERNEL --initrd INITRAMFS`.
#   LINUX_KERNEL=path   another bzImage (default /boot/vmlinuz-$(uname -r))
#   LINUX_CMDLINE=...   another command line (default: mini-kvm's own)
#   LINUX_BUILD_ONLY=1  only build the initramfs (for bench/run.sh and the real-KVM lane)
#   LINUX_DISK=FILE     give the guest FILE as its disk (--disk): /dev/vda
#   LINUX_MODULES=0     leave the kernel's modules out (bench/run.sh: a boot without them)
# Where the kernel's modules are found (ROOT/lib/modules/VERSION for ROOT/boot/vmlinuz-VERSION,
# which is /lib/modules/$(uname -r) for the host's own kernel), the initramfs carries the disk's
# (virtio_mmio, virtio_blk, ext4 and what they need) and /init loads them: Debian's kernels
# build these as modules, and without them --disk has no /dev/vda.
# Busybox comes from the busybox-static package: the installed /bin/busybox when it is the
# static one, otherwise the package fetched with `apt-get download` and unpacked here.
set -uo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-$PWD/target}
case $target in /*) ;; *) target=$PWD/$target ;; esac
out=$target/linux
mini_kvm=$target/release/mini-kvm
. scripts/initramfs-lib.sh

die() { echo "make linux: $*" >&2; exit 1; }

mkdir -p "$out" || die "cannot create $out"
busybox=""
if command -v busybox >/dev/null && ! ldd "$(command -v busybox)" >/dev/null 2>&1; then
    busybox=$(command -v busybox) # statically linked: it runs in an empty initramfs
else
    why=$(debian_fetch "$out/debs" busybox-static) || die "$why (or: apt-get install busybox-static)"
    why=$(debian_unpack "$out/busybox-static" "$out/debs"/busybox-static_*.deb) || die "$why"
    busybox=$out/busybox-static/bin/busybox
fi
staging=$out/initramfs
rm -rf "$staging" && mkdir -p "$staging"/{bin,dev,proc,sys,tmp} || die "cannot create $staging"
cp "$busybox" "$staging/bin/busybox" && cp linux/init "$staging/init" && chmod 755 "$staging/init" ||
    die "cannot stage the initramfs"

kernel=${LINUX_KERNEL:-/boot/vmlinuz-$(uname -r)}
# The disk's modules in load order (the order tests/common/linux.rs's DISK_MODULES keeps).
disk_modules="drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_mmio
    drivers/block/virtio_blk lib/crc16 crypto/crc32c_generic fs/mbcache fs/jbd2/jbd2 fs/ext4/ext4"
version=$(basename "$kernel") && version=${version#vmlinuz-}
root=$(dirname "$(dirname "$kernel")") && root=${root%/}
moddir=$root/lib/modules/$version/kernel
modules_note="no modules (none at $moddir: a kernel with virtio_blk built in still sees --disk)"
if [ -d "$moddir" ] && [ "${LINUX_MODULES:-1}" != 0 ]; then
    mkdir -p "$staging/modules" || die "cannot create $staging/modules"
    : >"$staging/modules/order"
    for m in $disk_modules; do
        name=$(basename "$m").ko
        # A module may be compressed (.ko.xz, .ko.zst) or built in (no file: nothing to load).
        if [ -f "$moddir/$m.ko" ]; then cp "$moddir/$m.ko" "$staging/modules/$name"
        elif [ -f "$moddir/$m.ko.xz" ]; then xz -dc "$moddir/$m.ko.xz" >"$staging/modules/$name"
        elif [ -f "$moddir/$m.ko.zst" ]; then zstd -qdc "$moddir/$m.ko.zst" >"$staging/modules/$name"
        else continue
        fi || die "cannot copy the module $m from $moddir (xz or zstd missing?)"
        echo "$name" >>"$staging/modules/order"
    done
    modules_note="$(wc -l <"$staging/modules/order") disk modules from $moddir"
fi
pack_initramfs "$staging" "$out/initramfs.cpio.gz" || die "packing the initramfs failed (is cpio installed?)"
echo "make linux: $out/initramfs.cpio.gz ($(stat -c %s "$out/initramfs.cpio.gz") bytes, busybox from $busybox, $modules_note)"
[ "${LINUX_BUILD_ONLY:-}" = 1 ] && exit 0

if [ ! -e "$kernel" ]; then
    # A host without a kernel image of its own (a container, say) can boot the real-KVM
    # lane's Debian kernel: fetched with apt-get download and unpacked, never installed.
    lane_kernel=$(ls "$target"/real-kvm/root-*/boot/vmlinuz-* 2>/dev/null | head -n1)
    if [ -n "$lane_kernel" ]; then
        die "no kernel at $kernel: give one with LINUX_KERNEL=path/to/bzImage, such as the \
real-KVM lane's Debian kernel: make linux LINUX_KERNEL=$lane_kernel"
    fi
    die "no kernel at $kernel: give one with LINUX_KERNEL=path/to/bzImage, such as the \
real-KVM lane's Debian kernel: LANE_PREPARE=1 bash tests/real-kvm/lane.sh fetches it (apt-get \
download, unpacked under $target/real-kvm, nothing installed) and prints its path; then \
make linux LINUX_KERNEL=that-path"
fi
[ -r "$kernel" ] || die "$kernel is not readable by $(id -un) (Debian makes it root-only): \
run as root, or copy it: LINUX_KERNEL=path"
args=(--linux "$kernel" --initrd "$out/initramfs.cpio.gz")
[ -z "${LINUX_CMDLINE:-}" ] || args+=(--cmdline "$LINUX_CMDLINE")
[ -z "${LINUX_DISK:-}" ] || args+=(--disk "$LINUX_DISK")
echo "make linux: $mini_kvm ${args[*]}   (in the guest: poweroff -f ends; Ctrl-A x quits)"
"$mini_kvm" "${args[@]}"
status=$?
if [ "$status" = 4 ]; then
    echo "make linux: this host's KVM cannot boot Linux (the line above says why); \
the real-KVM lane can: make test-real-kvm" >&2
fi
exit "$status"
