# mini-kvm: the two commands a new user types are `make run` and `make test`.
# Everything is built by `cargo build` (build.rs assembles the guests and builds the 1K OS);
# these targets only add the host tools that build needs, and the checks.

CARGO ?= cargo
# Where cargo builds: $CARGO_TARGET_DIR when set (as cargo itself reads it), else ./target.
TARGET_DIR := $(or $(CARGO_TARGET_DIR),target)
BUILD_TOOLS := nasm gcc ld objcopy
TEST_TOOLS := $(BUILD_TOOLS) tmux gdb qemu-system-x86_64 cpio valgrind

.PHONY: all build run install kernel test test-host test-real-kvm test-labs lab-start grade handin deps-build deps-test bench bench-real-kvm link-order clean linux

all: build

deps-build:
	@bash .ci/install-deps.sh $(BUILD_TOOLS)

deps-test:
	@bash .ci/install-deps.sh $(TEST_TOOLS)

build: deps-build
	$(CARGO) build --release

# What a new user types first: build everything and run the hello guest.
run: build
	$(TARGET_DIR)/release/mini-kvm hello

# mini-kvm on your PATH: cargo installs it into ~/.cargo/bin.
install: deps-build
	$(CARGO) install --path . --locked

# The 1K OS as files, for QEMU and gdb: $(TARGET_DIR)/os-1k (the Multiboot boot image),
# $(TARGET_DIR)/os-1k.elf (with symbols) and $(TARGET_DIR)/os-1k.img (its disk image, laid out
# as os-1k/fs.h says). build.rs writes them into cargo's OUT_DIR, whose name
# changes with each build configuration; cargo's own build report says which one it is.
kernel: deps-build
	@out=$$($(CARGO) build --release --message-format=json 2>/dev/null | \
		grep '"reason":"build-script-executed"' | grep '"package_id":"[^"]*mini-kvm' | \
		sed 's/.*"out_dir":"\([^"]*\)".*/\1/' | tail -n1); \
	[ -n "$$out" ] && cp "$$out/os-1k" "$(TARGET_DIR)/os-1k" && \
	cp "$$out/os-1k.elf" "$(TARGET_DIR)/os-1k.elf" && cp "$$out/os-1k.img" "$(TARGET_DIR)/os-1k.img" && \
	echo "$(TARGET_DIR)/os-1k (boot image), $(TARGET_DIR)/os-1k.elf (symbols for gdb), $(TARGET_DIR)/os-1k.img (disk)"

# Everything, on this host's KVM and on a real (VMX/SVM) one: unit tests, integration tests
# (real guests under KVM; --include-ignored runs the tests that need tmux, gdb or qemu, which
# deps-test installed; left out are `make fuzz`'s test and the lab graders, `make grade`'s), lints,
# formatting, the labs' solutions, then the real-KVM lane. The lane's Debian kernel is fetched
# first, since tests/linux.rs and the tour boot it on this host too. Every step runs even when
# an earlier one fails, so one failure never hides another; the status says if any failed.
test: deps-test
	@status=0; \
	LANE_PREPARE=1 bash tests/real-kvm/lane.sh || status=1; \
	$(CARGO) test --no-fail-fast -- --include-ignored --skip fuzz_for_a_while --skip grade_ --test-threads=2 || status=1; \
	$(CARGO) clippy --all-targets -- -D warnings || status=1; \
	$(CARGO) fmt --all -- --check || status=1; \
	$(MAKE) --no-print-directory test-labs || status=1; \
	$(MAKE) --no-print-directory test-real-kvm || status=1; \
	if [ $$status != 0 ]; then echo "make test: FAILED (see above)"; fi; \
	exit $$status

# Only this host's KVM (no real-KVM lane): the quick loop while developing.
test-host: deps-test
	@LANE_PREPARE=1 bash tests/real-kvm/lane.sh
	$(CARGO) test --no-fail-fast -- --include-ignored --skip fuzz_for_a_while --skip grade_ --test-threads=2

# The labs (docs/labs/): `make grade LAB=name` scores one; test-labs checks that every grader
# passes with the reference solutions, applied to a scratch copy under target/labs.
grade: deps-test
	@bash docs/labs/grade.sh "$(LAB)"

# A lab whose work the tree ships (pipe, locks) starts from a patch that takes it out.
lab-start:
	@test -n "$(LAB)" -a -f "docs/labs/start/$(LAB).patch" || \
		{ echo "usage: make lab-start LAB=name, with a name from docs/labs/start/: $$(ls docs/labs/start | sed 's/\.patch//' | tr '\n' ' ')" >&2; exit 2; }
	patch -p1 < docs/labs/start/$(LAB).patch

test-labs: deps-test
	@bash docs/labs/check-solutions.sh

# A lab handed in: handin.patch, everything changed since the course's commit, new files
# included (docs/labs/handin.sh), for `git apply` on the teacher's side.
handin:
	@bash docs/labs/handin.sh

# The integration tests on a real KVM: this host's if it is VMX/SVM, else kvm_amd nested
# under QEMU (tests/real-kvm/lane.sh). MINI_KVM_SKIP_REAL_KVM=1 skips it, saying so.
test-real-kvm: deps-test
	@bash tests/real-kvm/lane.sh

# Linux under mini-kvm: a busybox initramfs (scripts/make-linux.sh) booted with this host's
# kernel (or LINUX_KERNEL=path; without one, the real-KVM lane's Debian kernel, which
# `LANE_PREPARE=1 bash tests/real-kvm/lane.sh` fetches), where this host's KVM can boot one.
linux: build
	@bash .ci/install-deps.sh cpio gzip busybox
	@bash scripts/make-linux.sh

bench: deps-build
	bash bench/run.sh

# Rewrites bench/link-order.txt, the code layout a release build links with (bench/README.md,
# "What a process's RSS is made of"): after a Rust toolchain change, or when `make bench`
# says that few of its names are left.
link-order: deps-build
	bash bench/link-order.sh

# bench/linux.sh on the real-KVM lane (a few minutes of it), for a host whose KVM cannot boot
# Linux: the lane's Debian kernel with the `make linux` initramfs, mini-kvm (release) against
# qemu-system-x86_64 -enable-kvm. mini-kvm and the initramfs are built here first: the lane sees
# the host's files read-only. The status is the mini-kvm row's: the lane's own status counts
# tests, and a LANE_COMMAND runs none.
bench-real-kvm: deps-test
	@bash .ci/install-deps.sh gzip busybox
	@target=$${CARGO_TARGET_DIR:-target}; case $$target in /*) ;; *) target=$$PWD/$$target ;; esac; \
	$(CARGO) build --release && LINUX_BUILD_ONLY=1 bash scripts/make-linux.sh && \
	rm -f "$$target/real-kvm/log" && \
	{ LANE_COMMAND="sh bench/linux.sh \"\$$MINI_KVM_LINUX_KERNEL\" '$$target/linux/initramfs.cpio.gz' '$$target/release/mini-kvm'" \
		bash tests/real-kvm/lane.sh; \
	grep -aq '^mini-kvm --linux .* 0$$' "$$target/real-kvm/log" 2>/dev/null || \
		{ echo "make bench-real-kvm: no mini-kvm row with status 0 (see $$target/real-kvm/log)"; exit 1; }; }

clean:
	$(CARGO) clean

# The hostile generators of tests/hostile.rs (guests, kernels, bzImages, gdb clients, the
# virtqueue fuzzer's driver) with fresh seeds, for as long as asked, then the virtqueue fuzzer
# at unit level (src/virtio/fuzz.rs) as long again, in a debug build, whose overflow checks it
# relies on:
# FUZZ_SECONDS=600 make fuzz (default 60); FUZZ_SEED=N repeats a run it printed.
.PHONY: fuzz
fuzz: deps-build
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} $(CARGO) test --release --test hostile -- --ignored fuzz_for_a_while --nocapture
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} $(CARGO) test --bin mini-kvm -- --ignored virtio_fuzz_for_a_while --nocapture
