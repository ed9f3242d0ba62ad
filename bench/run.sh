#!/usr/bin/env bash
# make bench: build mini-kvm (release), the C baseline, the driver and the bench guests, then
# compare them. Figures go to stdout and to target/bench/*.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
out="$target/bench"
mkdir -p "$out/guests"
cargo build --release --quiet
cc -O2 -Wall -Wextra -pthread -o "$out/baseline" bench/baseline.c
cc -O2 -Wall -Wextra -o "$out/driver" bench/driver.c
for g in bench/guests/*.asm; do
    nasm -f bin -i asm/ -o "$out/guests/$(basename "$g" .asm).bin" "$g"
done
# The virtio-blk row: the same kernel making no request, and a 1 MiB disk for both programs.
nasm -f bin -i asm/ -DREQUESTS=0 -o "$out/guests/blk0.bin" bench/guests/blk.asm
rm -f "$out/guests/blk.img"
truncate -s 1M "$out/guests/blk.img"
mk="$target/release/mini-kvm"
os=()
if "$mk" --list | grep -q '^  os-1k '; then
    # The kernel image itself, for the QEMU row (the newest build's).
    image=$(ls -t "$target"/release/build/mini-kvm-*/out/os-1k 2>/dev/null | head -n 1)
    os=(os-1k "$image")
fi
# The code layout the RSS rows depend on (build.rs, bench/link-order.sh): how many of the names
# listed this build still has. Far fewer after a toolchain change: run `make link-order`.
listed=$(grep -v "^#" bench/link-order.txt | LC_ALL=C sort -u)
present=$(nm --defined-only "$mk" | awk '{ print $NF }' | LC_ALL=C sort -u | LC_ALL=C comm -12 - <(echo "$listed") | wc -l)
echo "link order: $present of $(echo "$listed" | wc -l) names of bench/link-order.txt are in this build"
stamp=$(date +%Y%m%d-%H%M%S)
"$out/driver" "$mk" "$out/baseline" "$out/guests" "$out/$stamp.csv" "${os[@]}"
cp "$out/$stamp.csv" "$out/latest.csv"
echo
echo "figures: $out/$stamp.csv (and $out/latest.csv)"

# Linux boot against QEMU, where this host's KVM can boot Linux (not a paravirtual one: there,
# `make bench-real-kvm` runs bench/linux.sh on the real-KVM lane) and the host's kernel is
# readable.
echo
kernel=${LINUX_KERNEL:-/boot/vmlinuz-$(uname -r)}
if ! "$mk" --host-check=keys | grep -q '^linux-boot yes'; then
    echo "Linux boot: not on this host's KVM (see mini-kvm --host-check); the real-KVM lane can:"
    echo "  make bench-real-kvm"
elif [ ! -r "$kernel" ]; then
    echo "Linux boot: $kernel is not readable here; give a bzImage with LINUX_KERNEL=path"
else
    LINUX_BUILD_ONLY=1 LINUX_MODULES=0 CARGO_TARGET_DIR="$target" bash scripts/make-linux.sh >/dev/null &&
        sh bench/linux.sh "$kernel" "$target/linux/initramfs.cpio.gz" "$mk"
fi
