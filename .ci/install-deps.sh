#!/usr/bin/env bash
# Installs the host tools that building and testing mini-kvm need, when they are missing.
# usage: .ci/install-deps.sh TOOL...   (e.g. nasm gcc tmux gdb qemu-system-x86_64)
# Uses apt-get as root, or through sudo when that works without a password.
set -euo pipefail

package_for() {
    case "$1" in
        gcc | cc) echo gcc ;;
        ld | objcopy | nm | readelf | addr2line) echo binutils ;;
        qemu-system-x86_64) echo qemu-system-x86 ;;
        busybox) echo busybox-static ;;
        *) echo "$1" ;;
    esac
}

missing=()
for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$(package_for "$tool")")
done
[ ${#missing[@]} -eq 0 ] && exit 0
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')

if [ "$(id -u)" -eq 0 ]; then
    sudo=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
else
    echo "error: mini-kvm needs: $packages; install them as root: apt-get install $packages" >&2
    exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "error: mini-kvm needs: $packages (no apt-get here: install them with your package manager)" >&2
    exit 1
fi
echo "installing: $packages"
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends $packages >/dev/null
