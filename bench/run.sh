#!/usr/bin/env bash
# make bench: build mini-kvm (release), the C baseline, the driver and the bench guests, then
# compare them. Figures go to stdout and to target/bench/*.csv.
set -euo pipefail
cd "$(dirname "$0")/.."
out=target/bench
mkdir -p "$out/guests"
cargo build --release --quiet
cc -O2 -Wall -Wextra -pthread -o "$out/baseline" bench/baseline.c
cc -O2 -Wall -Wextra -o "$out/driver" bench/driver.c
for g in bench/guests/*.asm; do
    nasm -f bin -o "$out/guests/$(basename "$g" .asm).bin" "$g"
done
os=""
if ./target/release/mini-kvm --list | grep -q '^  os-1k '; then os="os-1k"; fi
stamp=$(date +%Y%m%d-%H%M%S)
"$out/driver" ./target/release/mini-kvm "$out/baseline" "$out/guests" "$out/$stamp.csv" $os
cp "$out/$stamp.csv" "$out/latest.csv"
echo
echo "figures: $out/$stamp.csv (and $out/latest.csv)"
