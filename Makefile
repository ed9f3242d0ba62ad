# mini-kvm: the two commands a new user types are `make run` and `make test`.
# Everything is built by `cargo build` (build.rs assembles the guests and builds the 1K OS);
# these targets only add the host tools that build needs, and the checks.

CARGO ?= cargo
BUILD_TOOLS := nasm gcc ld objcopy
TEST_TOOLS := $(BUILD_TOOLS) tmux gdb qemu-system-x86_64 cpio

.PHONY: all build run test test-host test-real-kvm deps-build deps-test bench clean linux

all: build

deps-build:
	@bash .ci/install-deps.sh $(BUILD_TOOLS)

deps-test:
	@bash .ci/install-deps.sh $(TEST_TOOLS)

build: deps-build
	$(CARGO) build --release

# What a new user types first: build everything and run the hello guest.
run: build
	./target/release/mini-kvm hello

# Everything, on this host's KVM and on a real (VMX/SVM) one: unit tests, integration tests
# (real guests under KVM; --include-ignored runs the tests that need tmux, gdb or qemu, which
# deps-test installed), lints, formatting, then the real-KVM lane. Every step runs even when
# an earlier one fails, so one failure never hides another; the status says if any failed.
test: deps-test
	@status=0; \
	$(CARGO) test --no-fail-fast -- --include-ignored --test-threads=2 || status=1; \
	$(CARGO) clippy --all-targets -- -D warnings || status=1; \
	$(CARGO) fmt --all -- --check || status=1; \
	$(MAKE) --no-print-directory test-real-kvm || status=1; \
	if [ $$status != 0 ]; then echo "make test: FAILED (see above)"; fi; \
	exit $$status

# Only this host's KVM (no real-KVM lane): the quick loop while developing.
test-host: deps-test
	$(CARGO) test --no-fail-fast -- --include-ignored --test-threads=2

# The integration tests on a real KVM: this host's if it is VMX/SVM, else kvm_amd nested
# under QEMU (tests/real-kvm/lane.sh). MINI_KVM_SKIP_REAL_KVM=1 skips it, saying so.
test-real-kvm: deps-test
	@bash tests/real-kvm/lane.sh

# Linux under mini-kvm: a busybox initramfs (scripts/make-linux.sh) booted with this host's
# kernel (or LINUX_KERNEL=path), where this host's KVM can boot one.
linux: build
	@bash .ci/install-deps.sh cpio gzip busybox
	@bash scripts/make-linux.sh

bench: deps-build
	bash bench/run.sh

clean:
	$(CARGO) clean

# The hostile-guest generators of tests/hostile.rs with fresh seeds, for as long as asked:
# FUZZ_SECONDS=600 make fuzz (default 60); FUZZ_SEED=N repeats a run it printed.
.PHONY: fuzz
fuzz: deps-build
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} $(CARGO) test --release --test hostile -- --ignored fuzz_for_a_while --nocapture
