#!/usr/bin/env bash
# `make test-labs`: every lab's grader passes with the reference solutions applied. A scratch
# copy of the working tree gets every patch in docs/labs/start/ (a lab's starting point, where
# its graders must all fail), then every patch in docs/labs/solutions/ (they apply together),
# then the graders run there. The scratch copy and its build live under target/labs/.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
scratch=$root/target/labs/tree
rm -rf "$scratch" && mkdir -p "$scratch"
# The working tree's files that git knows (tracked, or new and not ignored).
git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do
    [ -e "$f" ] && printf '%s\0' "$f"
done | tar --null -T - -cf - | tar -xf - -C "$scratch"
cd "$scratch"
# The labs whose work the tree ships start from a patch that takes it out: with those applied,
# each of their graders must fail; the solutions then go on top.
for patch in docs/labs/start/*.patch; do
    patch -p1 -s --no-backup-if-mismatch <"$patch" ||
        { echo "labs: $patch does not apply to this tree: refresh it" >&2; exit 1; }
done
CARGO_TARGET_DIR=$root/target/labs/target cargo test --test labs -- --ignored --exact \
    grade_start_patches_leave_every_grader_failing 2>&1 | tee "$root/target/labs/start-log" |
    grep -E '^test |^test result'
grep -q '^test result: ok\. 1 passed' "$root/target/labs/start-log" ||
    { echo "labs: a grader passes on a lab's starting point (see target/labs/start-log)" >&2; exit 1; }
for patch in docs/labs/solutions/*.patch; do
    patch -p1 -s --no-backup-if-mismatch <"$patch" ||
        { echo "labs: $patch does not apply to this tree: refresh it" >&2; exit 1; }
done
CARGO_TARGET_DIR=$root/target/labs/target cargo test --test labs -- --ignored --test-threads=2 \
    --skip grade_start_patches_leave_every_grader_failing 2>&1 |
    tee "$root/target/labs/log" | grep -E '^test |^test result'
grep -q '^test result: ok\. [1-9]' "$root/target/labs/log" ||
    { echo "labs: a grader fails with the reference solutions (see target/labs/log)" >&2; exit 1; }
echo "labs: every grader passes with the reference solutions"
