#!/usr/bin/env bash
# `make grade LAB=name`: runs that lab's graders (tests/labs.rs) and prints a score.
set -uo pipefail
cd "$(dirname "$0")/../.."
lab=${1:-}
case $lab in
hypercall | syscall | vmprint | unclaimed | nice | pipe | locks) module=$lab ;;
lazy-stack) module=lazy_stack ;;
*)
    echo "usage: make grade LAB=name, with a name from docs/labs/README.md: hypercall, syscall, vmprint, lazy-stack, unclaimed, nice, pipe, locks" >&2
    exit 2
    ;;
esac
log=$(mktemp)
cargo test --test labs -- --ignored --test-threads=1 "$module::" 2>&1 | tee "$log"
passed=$(grep -c "^test $module::.* ok$" "$log")
total=$(grep -c "^test $module::" "$log")
rm -f "$log"
[ "$total" -gt 0 ] || { echo "lab $lab: the graders did not run (does it build?)"; exit 1; }
echo "lab $lab: $passed of $total checks pass, score $((100 * passed / total))/100"
[ "$passed" = "$total" ]
