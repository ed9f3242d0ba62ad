#!/usr/bin/env bash
# `make test-real-kvm`: mini-kvm's integration tests against a real KVM (Intel VMX or AMD SVM).
#
# Where /dev/kvm is already a real KVM, the tests run here. Where it is a paravirtual KVM (one
# that emulates ordinary guests and differs from hardware KVM: docs/kvm-variants.md), the lane
# makes a real one by nesting: QEMU's software CPU (TCG) emulates AMD SVM, a stock Debian kernel
# loads kvm_amd on it, and the host's own files (the test binaries included) are shared into
# it read-only over 9p. Kernel and busybox come from Debian packages fetched with
# `apt-get download` and unpacked under target/real-kvm (never installed).
#
# Prints the --host-check table of the KVM it ran on and ends with
#     real KVM (<kind>): N passed, M failed
# Exit status: 0 when every test passed, 1 otherwise (or when the lane cannot start: the
# message says why). MINI_KVM_SKIP_REAL_KVM=1 skips the lane, saying so.
#
# For a developer: LANE_TESTS="gdb modes" runs only those test binaries; LANE_COMMAND='...'
# runs one shell command on the real KVM instead of the tests (from the repository root, as
# the host's root user in a chroot of the host's files), to try things out there.
set -uo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
target=${CARGO_TARGET_DIR:-$root/target}
case $target in /*) ;; *) target=$root/$target ;; esac
lane=$target/real-kvm
mini_kvm=$target/debug/mini-kvm
opt_out="MINI_KVM_SKIP_REAL_KVM=1"
# debian_fetch, debian_unpack, pack_initramfs (shared with `make linux`).
. scripts/initramfs-lib.sh

die() {
    echo "real KVM lane: error: $*; to skip this lane on purpose, set $opt_out" >&2
    exit 1
}

if [ "${MINI_KVM_SKIP_REAL_KVM:-}" = 1 ] && [ "${LANE_PREPARE:-}" != 1 ]; then
    echo "real KVM lane: skipped ($opt_out is set): nothing was tested on a real KVM"
    exit 0
fi
mkdir -p "$lane" || die "cannot create $lane"
started=$(date +%s)

# The kernel and busybox: Debian packages, downloaded once and cached under target/real-kvm.
# The nested lane boots them; tests/linux.rs and the tour boot the same kernel under mini-kvm.
fetch_debian() {
    debs=$lane/debs
    mkdir -p "$debs"
    kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)/\1/p' | head -n1)
    if [ -z "$kernel_pkg" ]; then
        if [ "$(id -u)" = 0 ]; then apt-get update -qq >/dev/null 2>&1; fi
        kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)/\1/p' | head -n1)
    fi
    [ -n "$kernel_pkg" ] || die "apt-cache knows no linux-image-amd64 package (run apt-get update as root)"
    why=$(debian_fetch "$debs" "$kernel_pkg" busybox-static) || die "$why"
    kver=${kernel_pkg#linux-image-}
    tree=$lane/root-$kver
    why=$(debian_unpack "$tree" "$debs/${kernel_pkg}_"*.deb "$debs"/busybox-static_*.deb) || die "$why"
    vmlinuz=$tree/boot/vmlinuz-$kver
    [ -f "$vmlinuz" ] || die "$kernel_pkg has no /boot/vmlinuz-$kver"
}

# LANE_PREPARE=1: only fetch and unpack them (make test does this before the host's tests).
if [ "${LANE_PREPARE:-}" = 1 ]; then
    for tool in apt-get apt-cache dpkg-deb; do
        command -v "$tool" >/dev/null || die "$tool is missing (the lane needs Debian's package tools)"
    done
    fetch_debian
    echo "real KVM lane: $vmlinuz and busybox are ready"
    exit 0
fi

# --- 1. Build the integration test binaries (and the mini-kvm they run) on the host. --------
cargo test --no-run --message-format=json >"$lane/build.json" 2>"$lane/build.log" ||
    die "building the tests failed (see $lane/build.log)"
# Integration tests only (target kind "test"): unit tests need no KVM and ran already.
tests=$(grep '"kind":\["test"\]' "$lane/build.json" |
    grep -o '"executable":"[^"]*"' | sed 's/"executable":"//; s/"$//' | sort)
[ -n "$tests" ] || die "cargo built no integration test binaries"
if [ -n "${LANE_TESTS:-}" ]; then
    wanted=""
    for name in $LANE_TESTS; do
        wanted="$wanted $(echo "$tests" | grep "/deps/${name}-[0-9a-f]*$")"
    done
    tests=$wanted
    [ -n "$tests" ] || die "LANE_TESTS=\"$LANE_TESTS\" names no integration test binary"
fi

# --- 2. Which KVM is /dev/kvm? mini-kvm's own probes decide (never a module name). -----------
host_kind=$("$mini_kvm" --host-check=keys 2>"$lane/probe.log" | awk '$1 == "kind" { $1 = ""; sub(/^ /, ""); print }')
[ -n "$host_kind" ] || die "mini-kvm --host-check=keys failed: $(head -n1 "$lane/probe.log")"

# Nested guests run side by side, one per host core (at most two: each is one QEMU thread
# doing TCG), each with its own share of the test binaries: the suite is bound by the nested
# CPU, not by the host's. LANE_GUESTS=1 runs them all in one guest.
guests=${LANE_GUESTS:-$(nproc)}
[ "$guests" -ge 1 ] 2>/dev/null || die "LANE_GUESTS=$guests is not a number of guests"
[ "$guests" -le 2 ] || guests=2
[ -z "${LANE_COMMAND:-}" ] || guests=1

# Seconds each binary took in a nested lane (one run on a loaded host); the shares are
# balanced by these (longest first, each to the guest with least so far). A binary not listed
# counts 5 s. Each job prints what every binary took ("lane-status BIN STATUS SECONDSs").
weight() {
    case $(basename "$1" | sed 's/-[0-9a-f]*$//') in
    docs) echo 123 ;; gdb) echo 69 ;; console) echo 57 ;; stoppable) echo 48 ;;
    os_1k) echo 29 ;; hostile) echo 27 ;; linux | gdb_step) echo 25 ;; os_1k_fs) echo 20 ;;
    linux_disk) echo 57 ;; linux_smp) echo 32 ;;
    terminal_stop) echo 18 ;;
    gdb_stub | exit_status) echo 14 ;; modes) echo 13 ;; honest) echo 12 ;; cli | guests) echo 10 ;;
    *) echo 5 ;;
    esac
}
share_tests() { # sets share_1 .. share_$guests
    local t i best load_1=0 load_2=0
    share_1="" share_2=""
    for t in $(for t in $tests; do echo "$(weight "$t") $t"; done | sort -rn | cut -d' ' -f2); do
        best=1
        if [ "$guests" = 2 ] && [ "$load_2" -lt "$load_1" ]; then best=2; fi
        eval "share_$best=\"\$share_$best $t\"; load_$best=\$((load_$best + $(weight "$t")))"
    done
}

# One job per guest (or one on a real host): it prints the host-check table (the first job
# only), then each test binary's output between markers that summarise() reads.
write_job() { # $1: job file, $2: the test binaries, $3: 1 to print the host-check table
    {
        echo "#!/bin/sh"
        echo "# Written by tests/real-kvm/lane.sh: runs mini-kvm's integration tests on this KVM."
        echo "cd '$root' || exit 1"
        # HOSTILE_SHARE: a third of the hostile-guest cases (each run costs ten times more here).
        echo "export HOME=/tmp TMPDIR=/tmp CI='${CI:-}' TERM=xterm HOSTILE_SHARE=${HOSTILE_SHARE:-3} PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        # The lane's Debian kernel and busybox, for tests/linux.rs (a real KVM can boot them).
        [ -z "${vmlinuz:-}" ] || echo "export MINI_KVM_LINUX_KERNEL='$vmlinuz' MINI_KVM_LINUX_BUSYBOX='$tree/bin/busybox'"
        echo "echo 'lane-kind '\"\$('$mini_kvm' --host-check=keys | sed -n 's/^name //p')\""
        [ "$3" != 1 ] || echo "'$mini_kvm' --host-check"
        if [ -n "${LANE_COMMAND:-}" ]; then
            echo "$LANE_COMMAND"
            echo "echo lane-done"
            return
        fi
        for t in $2; do
            echo "echo 'lane-test $t'; s=\$(date +%s)"
            echo "timeout -k 10 300 '$t' --color never --include-ignored --skip fuzz_for_a_while --skip grade_ --test-threads=${LANE_TEST_THREADS:-1} 2>&1"
            echo "echo \"lane-status $t \$? \$((\$(date +%s) - s))s\""
        done
        echo "echo lane-done"
    } >"$1"
}

summarise() { # $@: the logs of the jobs
    local log=$lane/log kind passed=0 failed=0 n m line one
    cat "$@" >"$log"
    kind=$(grep -a '^lane-kind ' "$log" | sed 's/^lane-kind //' | head -n1)
    while read -r line; do
        n=$(echo "$line" | sed -n 's/.* \([0-9]*\) passed;.*/\1/p')
        m=$(echo "$line" | sed -n 's/.* \([0-9]*\) failed;.*/\1/p')
        passed=$((passed + ${n:-0}))
        failed=$((failed + ${m:-0}))
    # -a: a hostile guest's output can put NUL bytes in the log; it is still text to us.
    done < <(grep -a '^test result:' "$log")
    # A binary that crashed, hung (timeout's 124/137) or printed no result counts as a failure.
    while read -r _ t status _; do
        if [ "$status" != 0 ] && ! awk -v t="$t" '$0 == "lane-test " t { on = 1; next }
                /^lane-test / { on = 0 } on && /^test result: FAILED/ { found = 1 }
                END { exit !found }' "$log"; then
            echo "real KVM lane: $t ended with status $status"
            failed=$((failed + 1))
        fi
    done < <(grep -a '^lane-status ' "$log")
    for one in "$@"; do
        if ! grep -aq '^lane-done' "$one"; then
            echo "real KVM lane: the job did not finish (see $one)"
            failed=$((failed + 1))
        fi
    done
    # A nested kernel that hung and whose binaries then passed in a fresh guest (run_guest):
    # not a test failure, but never silent.
    grep -a '^lane-rerun ' "$log" | sed 's/^lane-rerun /real KVM lane: re-ran in a fresh guest: /'
    echo "real KVM lane: $(($(date +%s) - started)) s"
    echo "real KVM (${kind:-unknown}): $passed passed, $failed failed"
    [ "$failed" = 0 ] && [ "$passed" -gt 0 ]
}

fetch_debian
case $host_kind in
paravirtual*) ;;
*)
    echo "real KVM lane: /dev/kvm here is a real KVM ($host_kind): running the tests on it"
    write_job "$lane/job.sh" "$tests" 1
    sh "$lane/job.sh" 2>&1 | tee "$lane/log.1"
    summarise "$lane/log.1"
    exit
    ;;
esac

# --- 3. A paravirtual KVM: nest a real one under QEMU's software CPU. ------------------------
echo "real KVM lane: /dev/kvm here is $host_kind: booting kvm_amd nested under QEMU (TCG, AMD SVM)"
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 is missing (apt-get install qemu-system-x86)"
for tool in apt-get apt-cache dpkg-deb cpio gzip; do
    command -v "$tool" >/dev/null || die "$tool is missing (the lane needs Debian's package tools and cpio)"
done


# The initramfs: busybox, the modules for KVM, for 9p over virtio and for loop devices
# (tests/disk.rs's block device), and /init.
initrd=$lane/initrd-$kver.gz
if [ ! -f "$initrd" ] || [ tests/real-kvm/init.sh -nt "$initrd" ] ||
    [ tests/real-kvm/lane.sh -nt "$initrd" ]; then
    staging=$lane/initramfs
    rm -rf "$staging" && mkdir -p "$staging"/{bin,dev,proc,sys,tmp,modules}
    cp "$tree/bin/busybox" "$staging/bin/busybox"
    cp tests/real-kvm/init.sh "$staging/init" && chmod 755 "$staging/init"
    mods=$tree/lib/modules/$kver/kernel
    order=""
    for m in virt/lib/irqbypass arch/x86/kvm/kvm drivers/crypto/ccp/ccp arch/x86/kvm/kvm-amd \
        drivers/virtio/virtio_ring drivers/virtio/virtio drivers/virtio/virtio_pci_legacy_dev \
        drivers/virtio/virtio_pci_modern_dev drivers/virtio/virtio_pci net/9p/9pnet \
        net/9p/9pnet_virtio fs/netfs/netfs fs/fscache/fscache fs/9p/9p drivers/block/loop; do
        ko=$(ls "$mods/$m.ko"* 2>/dev/null | head -n1)
        [ -n "$ko" ] || die "$kernel_pkg has no module $m"
        cp "$ko" "$staging/modules/"
        order="$order $(basename "$ko")"
    done
    echo "$order" >"$staging/modules/order"
    pack_initramfs "$staging" "$initrd" || die "building the initramfs failed"
fi

# Directories under /tmp the nested guest must keep when it mounts its own /tmp (init.sh).
keep=""
for d in "$root" "$target"; do
    case $d in /tmp/*) keep="${keep:+$keep,}$d" ;; esac
done
share_tests
echo "real KVM lane: QEMU is up ($guests nested guests); the test output follows, each line marked" \
    "with its guest (also in $lane/log.N)"
# One nested guest: `-smp 1`, because with 2 vCPUs the guest was seen to stall under TCG. Each
# is bounded (20 minutes: two Linux boots, tests/linux.rs and the tour's, take 2-3 of them on a
# loaded host).
# QEMU's monitor listens on a pair of FIFOs (monitor-N.in, .out), so that a hung guest can be
# asked where its CPU is (where_it_hung) with nothing but the shell.
# The nested kernel keeps a periodic tick (highres=off nohz=off). With its default one-shot
# timer, a timer interrupt that QEMU's software SVM lost while mini-kvm single-stepped a guest
# (tests/gdb.rs: breakpoints by single-step where int3 is not reported, thousands of #DB exits
# a second) was never followed by another: the kernel sat idle with interrupts on (HLT=1,
# IF=1), or spun with idle=poll, and every timer in it stopped (the test hung in 3 of 4 runs in
# a row on a loaded host). A periodic tick comes again by itself. LANE_APPEND adds parameters.
boot_guest() { # $1: the guest's number
    rm -f "$lane/monitor-$1.in" "$lane/monitor-$1.out"
    mkfifo "$lane/monitor-$1.in" "$lane/monitor-$1.out"
    timeout -k 10 "${LANE_TIMEOUT:-1200}" qemu-system-x86_64 -accel tcg -cpu qemu64,+svm -smp 1 -m 4G \
        -display none -no-reboot -monitor "pipe:$lane/monitor-$1" -serial stdio -nic none \
        -kernel "$vmlinuz" -initrd "$initrd" \
        -append "console=ttyS0 panic=-1 quiet loglevel=1 nokaslr highres=off nohz=off ${LANE_APPEND:-} lane_job=$lane/job-$1.sh lane_keep=$keep" \
        -virtfs "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap" \
        </dev/null 2>"$lane/qemu-$1.log" | sed -u 's/\r$//' | tee "$lane/log.$1" | sed -u "s/^/[$1] /"
    status=${PIPESTATUS[0]}
    [ "$status" = 0 ] || echo "real KVM lane: QEMU $1 ended with status $status ($(tail -n1 "$lane/qemu-$1.log"))"
}
# A nested guest that prints nothing for LANE_STALL seconds has hung as a whole: every test
# binary runs under a 300 s `timeout` inside it, which prints its status when it fires, so
# silence past that means the nested kernel itself stopped (seen about once in ten lanes, in
# tests/gdb.rs, with QEMU idle: the nested KVM or QEMU's emulation of it, not a test, hung).
# Stop that guest then, rather than wait for LANE_TIMEOUT, and leave a mark for run_guest.
# First, for whoever looks into it: the nested kernel's registers and the instructions at its
# RIP (stall-N.regs, from QEMU's monitor), and whether the CPU sat in `hlt`. The kernel boots
# with nokaslr, so its addresses are those of linux-image-<version>-dbg's System.map.
where_it_hung() { # $1: the guest's number
    local mon=$lane/monitor-$1 rip
    [ -p "$mon.in" ] && [ -p "$mon.out" ] || return 0
    printf 'info registers\nx/6i $pc\n' >"$mon.in" 2>/dev/null || return 0
    timeout 3 cat "$mon.out" 2>/dev/null | tr -d '\r' >"$lane/stall-$1.regs"
    rip=$(sed -n 's/^RIP=\([0-9a-f]*\) .*/\1/p' "$lane/stall-$1.regs" | head -n1)
    [ -n "$rip" ] || return 0
    echo "real KVM lane: guest $1's kernel was at RIP=$rip ($(grep -o 'CPL=[0-9]' "$lane/stall-$1.regs" | head -n1) $(grep -o 'HLT=[01]' "$lane/stall-$1.regs" | head -n1)): $(grep -m1 "^0x0*$rip:" "$lane/stall-$1.regs" | sed 's/^[^:]*: *//'); registers and code: $lane/stall-$1.regs"
}
watch_guest() { # $1: the guest's number
    local log=$lane/log.$1 stall=${LANE_STALL:-330} age
    while sleep 10; do
        pgrep -f "lane_job=$lane/job-$1.sh" >/dev/null || return 0
        age=$(($(date +%s) - $(stat -c %Y "$log" 2>/dev/null || date +%s)))
        if [ "$age" -ge "$stall" ]; then
            printf "\n"; echo "real KVM lane: guest $1 printed nothing for $age s (the 300 s bound on each test binary would have printed): its kernel hung; stopping it"
            where_it_hung "$1"
            touch "$lane/stalled-$1"
            pkill -f "lane_job=$lane/job-$1.sh"
            return 0
        fi
    done
}
# One guest's share of the test binaries. A guest whose kernel hung gets one fresh guest for
# the binaries it had not finished (the one it hung in first); the first attempt's log is kept
# as log.N.hung, and the summary names the binary and says it was run again. A second hang is
# not retried: that job does not finish, a failure.
run_guest() { # $1: the guest's number, $2: its test binaries
    local g=$1 log=$lane/log.$1 watcher hung rest t
    write_job "$lane/job-$g.sh" "$2" $((g == 1))
    watch_guest "$g" &
    watcher=$!
    boot_guest "$g"
    wait "$watcher"
    [ -f "$lane/stalled-$g" ] && [ -z "${LANE_COMMAND:-}" ] || return 0
    hung=$(grep -a '^lane-test ' "$log" | tail -n1 | cut -d' ' -f2)
    rest=""
    for t in $2; do
        grep -aq "^lane-status $t " "$log" || rest="$rest $t"
    done
    echo "real KVM lane: guest $g hung in ${hung:-its start}; running what it had not finished in a fresh guest:$rest"
    mv "$log" "$log.hung"
    rm -f "$lane/stalled-$g"
    write_job "$lane/job-$g.sh" "$rest" 0
    watch_guest "$g" &
    watcher=$!
    boot_guest "$g"
    wait "$watcher"
    # The log summarise() reads: what the first attempt finished, a mark, then the second.
    {
        awk '/^lane-test / { last = NR } { line[NR] = $0 } END { for (i = 1; i < (last ? last : NR + 1); i++) print line[i] }' "$log.hung"
        echo "lane-rerun guest $g hung in ${hung:-its start} (first attempt: $log.hung)"
        cat "$log"
    } >"$log.all"
    mv "$log.all" "$log"
}
rm -f "$lane"/stalled-*
logs=""
for g in $(seq "$guests"); do
    eval "run_guest \"\$g\" \"\${share_$g:-}\"" &
    logs="$logs $lane/log.$g"
done
wait
# shellcheck disable=SC2086 # one word per log file
summarise $logs
