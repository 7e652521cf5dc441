# Parley: `make run` starts the server, `make test` runs every test. Both install what is missing.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= 2
HOST       ?= 127.0.0.1
PORT       ?= 8000
ARGS       ?=
# Fuzzing (tests/fuzz/README.md): a clang build of its own, never mixed with the g++ one.
FUZZ_BUILD         ?= build-fuzz
FUZZ_CXX           ?= clang++-14
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 10

.PHONY: all run test test-fast test-asan build build-asan deps deps-test deps-fuzz npm-test bench bench-store format clean \
	fuzz fuzz-smoke fuzz-build fuzz-merge fuzz-coverage

all: build

deps:
	@scripts/install-deps.sh build

deps-test:
	@scripts/install-deps.sh test

deps-fuzz:
	@scripts/install-deps.sh fuzz

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPARLEY_SANITIZE=ON

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j$(JOBS)

run: build
	$(BUILD)/parley --host $(HOST) --port $(PORT) $(ARGS)

npm-test:
	@cd tests/integration && { [ -d node_modules/ws ] && [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund; }

# Every test: the normal build, then the same suites under ASan + UBSan.
test: test-fast test-asan

test-fast: deps-test npm-test build
	cd $(BUILD) && ctest --output-on-failure -j1

test-asan: deps-test npm-test build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j1

bench: build
	bench/run.sh $(BUILD)/parley $(BUILD)/bench/chatbench

bench-store: deps-test build
	bench/store-run.sh $(BUILD)/bench/storebench

$(FUZZ_BUILD)/CMakeCache.txt:
	cmake -S tests/fuzz -B $(FUZZ_BUILD) -DCMAKE_CXX_COMPILER=$(FUZZ_CXX)

fuzz-build: deps-fuzz $(FUZZ_BUILD)/CMakeCache.txt
	cmake --build $(FUZZ_BUILD) -j$(JOBS)

# Each target for FUZZ_SECONDS from the committed corpus plus a scratch one in $(FUZZ_BUILD).
fuzz: fuzz-build
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# CI's short form: each target for FUZZ_SMOKE_SECONDS, then every committed corpus file once.
fuzz-smoke: fuzz-build
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SMOKE_SECONDS) --replay

# Which lines of src/ the committed corpus reaches (clang source-based coverage, build-fuzz-cov/).
fuzz-coverage: deps-fuzz
	tests/fuzz/coverage.sh

# Adds to the committed corpus the smallest scratch inputs that reach code (edges) it does not;
# edges only, not hit counts, which keeps it to a few hundred small files per target.
fuzz-merge: fuzz-build
	for t in $$(cat $(FUZZ_BUILD)/targets.txt); do \
	  $(FUZZ_BUILD)/$$t -merge=1 -use_counters=0 tests/fuzz/corpus/$$t $(FUZZ_BUILD)/corpus/$$t \
	    || exit 1; done

format:
	clang-format -i $$(git ls-files 'src/*.cpp' 'src/*.h' 'tests/*.cpp' 'tests/*.h' 'bench/*.cpp' 'bench/*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD) build-fuzz-cov
