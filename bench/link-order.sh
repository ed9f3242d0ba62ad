#!/usr/bin/env bash
# Writes bench/link-order.txt: the functions mini-kvm executes, in the order it first executes
# them. build.rs hands the file to the linker (LLD's --symbol-ordering-file), which puts those
# functions first in .text, one after the other.
#
# Why: the code of a process is a file mapping, and when a page of it is touched the kernel maps
# the whole aligned 64 KiB around it ("fault-around"), all of which counts in the RSS. Left to
# itself the linker scatters the code a run needs over the whole 1.4 MB of .text (glibc's
# start-up alone runs an ifunc resolver in most of its string functions), so almost every
# window gets mapped. Listed first, the same code fits in a few windows. bench/README.md has
# the figures.
#
# How: valgrind's lackey tool prints the address of every instruction the process executes and
# of every byte it reads or writes (the guest runs under KVM, not under valgrind: only
# mini-kvm's own code is traced). Each address is turned into the function or data object
# around it. Data has the same problem as code (read-only data is a file mapping too). The runs below go from the
# most common (`make run`'s hello) to the rarer, so a hello run's code is the start of the list.
# mini-kvm runs with --no-seccomp (valgrind has no seccomp(2)); the filter's own code is added
# by name. glibc's string functions come in one variant per instruction set (sse2, avx2, evex,
# ...) chosen at start by the CPU's features, and valgrind's CPU is not the user's: all
# variants are listed after the traced code, grouped by instruction set, so the ones a given
# CPU uses sit together.
#
# Names are the linker's (mangled): they stay the same across edits of other functions and
# across checkouts, and change with the Rust toolchain, after which this script should be run
# again (`make bench` prints how many of the names the current build still has).
#
# usage: bash bench/link-order.sh     (or: make link-order)
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-deps.sh valgrind readelf nm nasm gcc ld objcopy

target=${CARGO_TARGET_DIR:-target}
cargo build --release --quiet
mk=$target/release/mini-kvm
entry=$(($(readelf -h "$mk" | awk '/Entry point address/ { print $4 }')))
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# trace INPUT ARGS...: the addresses one run executes (lackey's I lines) and reads or writes
# (L, S and M lines), each once, first touched first, as offsets into the binary. The first
# instruction of a process is its entry point (_start), which tells where valgrind loaded this
# position-independent binary; addresses outside the binary (stacks, heap) are left out later.
trace() {
    local input=$1
    shift
    printf '%b' "$input" |
        valgrind --tool=lackey --trace-mem=yes --log-fd=9 "$mk" --no-seccomp "$@" 9>&1 >/dev/null 2>&1 |
        awk '$1 ~ /^[ILSM]$/ { split($2, a, ","); if (!(a[1] in seen)) { seen[a[1]] = 1; print a[1] } }' |
        {
            read -r first || exit 0
            base=$((0x$first - entry))
            printf '%d\n' "$entry"
            while read -r address; do printf '%d\n' $((0x$address - base)); done
        }
}

{
    trace '' hello
    trace '0\n' os-1k
    trace '' hello_64
    trace '' counter
    trace 'hi\nq' echo
    trace '' fibonacci
    trace '' matrix
    trace '' multiplication
    trace '' hctest
    trace '' minimal
    trace '' --stats hello
    trace '' --trace hello
    trace '' -v hello
    trace '' --list
    trace '' --help
    trace '' --host-check
} >"$work/addresses"

# Each address becomes the symbol (function or data object) whose extent holds it, found by
# binary search in nm's table; addresses in no symbol (Rust's unnamed constants, the heap) are
# dropped: the linker can only order what has a name.
nm -S -n --defined-only "$mk" | awk '$(NF - 1) ~ /^[tTiWrRdDbB]$/' >"$work/symbols"
awk '
    function hex(s,    i, v) {
        v = 0
        for (i = 1; i <= length(s); i++) v = v * 16 + index("0123456789abcdef", substr(s, i, 1)) - 1
        return v
    }
    # A symbol without a size (a few assembly functions of crt1 and crtbegin) reaches to the next.
    NR == FNR {
        n++; start[n] = hex($1); name[n] = $NF
        end[n] = NF == 4 ? start[n] + hex($2) : -1
        if (n > 1 && end[n - 1] < 0) end[n - 1] = start[n]
        next
    }
    {
        lo = 1; hi = n; found = 0
        while (lo <= hi) {
            mid = int((lo + hi) / 2)
            if (start[mid] <= $1) { found = mid; lo = mid + 1 } else hi = mid - 1
        }
        if (found && $1 < end[found] && !(name[found] in listed)) { listed[name[found]] = 1; print name[found] }
    }
' "$work/symbols" "$work/addresses" >"$work/traced"

nm --defined-only "$mk" | awk '$2 ~ /^[tTi]$/ { print $3 }' >"$work/functions"
# The seccomp filter's code (confine.rs), which the traced runs could not reach.
grep -E '^_ZN8mini_kvm7confine' "$work/functions" >"$work/confine" || true
: >"$work/variants"
for isa in evex avx512 avx2 avx sse4_2 sse42 sse4_1 ssse3 sse2; do
    grep -E "^__[a-z0-9_]+_${isa}(_|$)" "$work/functions" >>"$work/variants" || true
done

{
    echo "# The functions mini-kvm runs, first run first: written by bench/link-order.sh, read by"
    echo "# build.rs for the linker's --symbol-ordering-file. Regenerate after a toolchain change."
    cat "$work/traced" "$work/confine" "$work/variants" | awk '!seen[$0]++'
} >bench/link-order.txt
echo "bench/link-order.txt: $(grep -vc "^#" bench/link-order.txt) names"
