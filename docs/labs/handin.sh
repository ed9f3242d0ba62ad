#!/usr/bin/env bash
# `make handin`: one patch with everything a student changed since the course's commit:
# commits and uncommitted edits, and new files (a `git diff` leaves out the files git does not
# track yet, such as os-1k/user/ppid.c). It is built in a temporary index, so the student's own
# index is untouched; files .gitignore names (target/, build outputs) stay out.
#   HANDIN_BASE=commit   the commit to compare with (default: where this branch left
#                        origin's, the commit the course handed out; else HEAD)
#   HANDIN=path          where the patch goes (default: handin.patch here)
set -euo pipefail
# The work tree this is run in (make runs it at the top of the student's clone).
cd "$(git rev-parse --show-toplevel)"
out=${HANDIN:-handin.patch}
base=${HANDIN_BASE:-}
if [ -z "$base" ]; then
    upstream=$(git rev-parse -q --verify '@{upstream}' 2>/dev/null ||
        git rev-parse -q --verify origin/HEAD 2>/dev/null || true)
    if [ -n "$upstream" ]; then
        base=$(git merge-base HEAD "$upstream")
    else
        base=HEAD
    fi
fi
index=$(mktemp)
trap 'rm -f "$index"' EXIT
export GIT_INDEX_FILE=$index
git read-tree HEAD
# Every file of the working tree, new ones too, but not the patch itself.
git add -A -- . ":(exclude)$out"
git diff --cached --binary "$base" >"$out"
unset GIT_INDEX_FILE
files=$(grep -c '^diff --git ' "$out" || true)
new=$(grep -c '^new file mode' "$out" || true)
echo "make handin: $out: $files files changed since $(git rev-parse --short "$base"), $new of them new; hand in this file (it applies with git apply)"
