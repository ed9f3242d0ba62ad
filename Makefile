# mini-kvm: the two commands a new user types are `make run` and `make test`.
# Everything is built by `cargo build` (build.rs assembles the guests and builds the 1K OS);
# these targets only add the host tools that build needs, and the checks.

CARGO ?= cargo
BUILD_TOOLS := nasm gcc ld objcopy
TEST_TOOLS := $(BUILD_TOOLS) tmux gdb qemu-system-x86_64

.PHONY: all build run test deps-build deps-test bench clean

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

# Unit tests, integration tests (real guests under KVM), lints and formatting.
test: deps-test
	$(CARGO) build --all-targets
	$(CARGO) test -- --test-threads=2
	$(CARGO) clippy --all-targets -- -D warnings
	$(CARGO) fmt --all -- --check

bench: deps-build
	bash bench/run.sh

clean:
	$(CARGO) clean

# The hostile-guest generators of tests/hostile.rs with fresh seeds, for as long as asked:
# FUZZ_SECONDS=600 make fuzz (default 60); FUZZ_SEED=N repeats a run it printed.
.PHONY: fuzz
fuzz: deps-build
	FUZZ_SECONDS=$${FUZZ_SECONDS:-60} $(CARGO) test --release --test hostile -- --ignored fuzz_for_a_while --nocapture
