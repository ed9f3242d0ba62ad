#!/bin/bash
# The README's gdb session, run for real: tests/docs.rs runs this and compares its output with
# the README. It starts `mini-kvm --gdb 0 os-1k` (the kernel picks a free port), drives gdb in
# batch mode with the commands below, presses Ctrl-C once the shell waits for input, detaches,
# and lets the guest finish. Where Ctrl-C lands depends on timing (the idle loop's `hlt`, most
# often, or the timer's interrupt handler), so the lines naming that place are replaced by one
# that says so, and a breakpoint on the idle loop then gives the session a stop that never
# varies. Long hex numbers (addresses, which depend on how gcc built the
# kernel) are shown as 0x…, and source paths from os-1k/, so the transcript holds on every
# build and checkout (the instructions shown are still the ones this gcc made).
set -eu
dir=$(mktemp -d)
vmm=
cleanup() {
    [ -z "$vmm" ] || kill "$vmm" 2>/dev/null || true
    rm -rf "$dir"
}
trap cleanup EXIT
mkfifo "$dir/in"
mini-kvm --gdb 0 os-1k <"$dir/in" >"$dir/out" 2>"$dir/err" &
vmm=$!
exec 3>"$dir/in" # the guest's input stays open until we say 0
# Wait for the line that names the port and the symbol file (not a sleep: a condition).
until grep -q 'connect with' "$dir/err"; do sleep 0.02; done
port=$(grep -o '127\.0\.0\.1:[0-9]*' "$dir/err" | head -1 | cut -d: -f2)
# The symbol file is the line's last word: this build's os-1k-<hash>.elf (README, gdb section).
elf=$(grep 'connect with' "$dir/err" | awk '{print $NF}')
cat >"$dir/session.gdb" <<GDB
target remote :$port
break console_putc
continue
bt
info registers rip eflags cs
x/8i \$pc
delete
advance console.c:77
set logging file /dev/null
set logging redirect on
set logging enabled on
while *(unsigned char *)\$pc != 0xee
  stepi
end
set logging enabled off
x/i \$pc
stepi
x/i \$pc
continue
break proc.c:291
continue
delete
detach
GDB
# Ctrl-C once the shell shows its menu: gdb passes SIGINT on to the stub as 0x03.
(until grep -q '^0. Exit' "$dir/out" 2>/dev/null; do sleep 0.02; done; pkill -INT -P $$ -x gdb) &
watcher=$!
gdb -batch -nx -x "$dir/session.gdb" "$elf" 2>&1 |
    sed -E 's/0x[0-9a-f]{9,16}/0x…/g; s/0x[0-9a-f]+\(%rip\)/0x…(%rip)/g; s# (at|file) /[^ ]*/os-1k/# \1 os-1k/#g' |
    awk '/^Program received signal SIGINT/ { print; print "(wherever Ctrl-C found the guest)"; skip = 1; next }
        skip && /^Breakpoint 2 at/ { skip = 0 }
        !skip'
wait "$watcher" 2>/dev/null || true
echo 0 >&3
exec 3>&-
wait "$vmm"
echo "mini-kvm exited with status $?"
