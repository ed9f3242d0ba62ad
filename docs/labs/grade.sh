#!/usr/bin/env bash
# `make grade LAB=name`: runs that lab's graders (tests/labs.rs) and prints a score, as xv6's
# `make grade` does: one line per check, and under a failed one the grader's own words, what it
# expected next to what it saw (no Rust backtrace, whatever RUST_BACKTRACE says).
set -uo pipefail
cd "$(dirname "$0")/../.."
lab=${1:-}
case $lab in
hypercall | syscall | vmprint | unclaimed | nice | pipe | locks | diskid) module=$lab ;;
lazy-stack) module=lazy_stack ;;
read-only) module=read_only ;;
*)
    echo "usage: make grade LAB=name, with a name from docs/labs/README.md: hypercall, syscall, vmprint, lazy-stack, unclaimed, nice, pipe, locks, diskid, read-only" >&2
    exit 2
    ;;
esac
log=$(mktemp)
trap 'rm -f "$log"' EXIT
echo "make grade: building and running the graders of lab $lab (tests/labs.rs)"
RUST_BACKTRACE=0 cargo test --test labs -- --ignored --test-threads=1 "$module::" >"$log" 2>&1
if ! grep -q "^running [0-9]* tests*$" "$log"; then
    cat "$log"
    echo "lab $lab: the graders did not run (the build failed: see above)"
    exit 1
fi
# libtest prints `test lab::grade_NAME ... ok|FAILED`, then for each failure the grader's output
# between `---- lab::grade_NAME stdout ----` and the next such line or the list of failures.
awk -v module="$module" '
    $1 == "test" && index($2, module "::grade_") == 1 && ($NF == "ok" || $NF == "FAILED") {
        name = substr($2, length(module "::grade_") + 1); gsub("_", " ", name)
        order[++n] = $2; label[$2] = name; verdict[$2] = ($NF == "ok") ? "ok" : "FAIL"
        next
    }
    /^---- .* stdout ----$/ { current = $2; next }
    /^failures:$/ { current = ""; next }
    current != "" && $0 != "" { said[current] = said[current] "        " $0 "\n" }
    END {
        for (i = 1; i <= n; i++) {
            t = order[i]
            printf "%-4s  %s\n", verdict[t], label[t]
            if (verdict[t] == "FAIL") printf "%s", said[t]
        }
    }
' "$log"
passed=$(grep -c "^test $module::grade_.* ok$" "$log")
total=$(grep -c "^test $module::grade_.* \(ok\|FAILED\)$" "$log")
[ "$total" -gt 0 ] || { cat "$log"; echo "lab $lab: no grader ran"; exit 1; }
echo "lab $lab: $passed of $total checks pass, score $((100 * passed / total))/100"
[ "$passed" = "$total" ]
