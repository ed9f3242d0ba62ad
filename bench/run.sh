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
    nasm -f bin -o "$out/guests/$(basename "$g" .asm).bin" "$g"
done
mk="$target/release/mini-kvm"
os=()
if "$mk" --list | grep -q '^  os-1k '; then
    # The kernel image itself, for the QEMU row (the newest build's).
    image=$(ls -t "$target"/release/build/mini-kvm-*/out/os-1k 2>/dev/null | head -n 1)
    os=(os-1k "$image")
fi
stamp=$(date +%Y%m%d-%H%M%S)
"$out/driver" "$mk" "$out/baseline" "$out/guests" "$out/$stamp.csv" "${os[@]}"
cp "$out/$stamp.csv" "$out/latest.csv"
echo
echo "figures: $out/$stamp.csv (and $out/latest.csv)"
