# profcol: two commands do everything on a fresh Debian 12 machine.
#   make run   install what is missing, build, run with config.example.yaml
#   make test  install what is missing, build, run every test
BUILD      ?= build
BUILD_ASAN ?= build-asan
BUILD_FUZZ ?= build-fuzz
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CONFIG     ?= config.example.yaml
FUZZ_SECONDS ?= 20

.PHONY: all deps build run test style format unit-asan fuzz bench bench-check clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

run: build
	@mkdir -p data/incoming data/out data/queue
	./$(BUILD)/profcol --config $(CONFIG)

test: build
	@$(MAKE) --no-print-directory style
	ctest --test-dir $(BUILD) --output-on-failure -j $(JOBS)
	@$(MAKE) --no-print-directory unit-asan
	@$(MAKE) --no-print-directory fuzz
	@echo "make test: all suites passed"

# Style checks (scripts/check-style.sh): banned functions, include layers,
# component registry, documented keys, formatting (.clang-format).
style: deps
	@PROFCOL_BIN=$(BUILD)/profcol scripts/check-style.sh

# Formats every C file with .clang-format (scripts/format.sh FILE... for some).
format: deps
	@scripts/format.sh

# Unit tests again under AddressSanitizer + UndefinedBehaviorSanitizer.
unit-asan: deps
	@cmake -S . -B $(BUILD_ASAN) -DCMAKE_BUILD_TYPE=Debug -DPROFCOL_SANITIZE=ON >/dev/null
	@cmake --build $(BUILD_ASAN) -j $(JOBS)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --test-dir $(BUILD_ASAN) --output-on-failure -j $(JOBS) -R '^unit/'

# libFuzzer targets (clang), a short run of each over the seed corpus.
fuzz: deps
	@CC=clang cmake -S . -B $(BUILD_FUZZ) -DCMAKE_BUILD_TYPE=Debug -DPROFCOL_FUZZ=ON >/dev/null
	@cmake --build $(BUILD_FUZZ) -j $(JOBS)
	@scripts/run-fuzz.sh $(BUILD_FUZZ) $(FUZZ_SECONDS)

bench: build
	@bench/run.sh $(BUILD)

# The codec's ratios against the gzip floors, compared with the README's.
bench-check: build
	@bench/check.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(BUILD_ASAN) $(BUILD_FUZZ)
