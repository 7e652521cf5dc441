# Parley: `make run` starts the server, `make test` runs every test. Both install what is missing.
BUILD      ?= build
ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
JOBS       ?= 2
HOST       ?= 127.0.0.1
PORT       ?= 8000
ARGS       ?=
SOAK_SECONDS ?= 600
# The suites of parley_tsan_tests that run under ThreadSanitizer: all (new suites in its files
# join by themselves) but the password and throttle ones that AuthTest.cpp holds beside the
# token tests: one thread each, and the hashes cost seconds under TSan for nothing.
TSAN_FILTER ?= -PasswordHasher.*:LoginThrottle.*

# Fuzzing (tests/fuzz/README.md): a clang build of its own, never mixed with the g++ one.
FUZZ_BUILD         ?= build-fuzz
FUZZ_CXX           ?= clang++-14
FUZZ_SECONDS       ?= 60
FUZZ_SMOKE_SECONDS ?= 5

.PHONY: all run test test-fast test-asan test-tsan soak build build-asan build-tsan deps deps-test deps-fuzz deps-cluster npm-test bench bench-store bench-cluster cluster format clean \
	fuzz fuzz-smoke fuzz-build fuzz-merge fuzz-coverage

all: build

deps:
	@scripts/install-deps.sh build

deps-test:
	@scripts/install-deps.sh test

deps-fuzz:
	@scripts/install-deps.sh fuzz

deps-cluster:
	@scripts/install-deps.sh cluster

$(BUILD)/CMakeCache.txt:
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release

build: deps $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j$(JOBS)

$(ASAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPARLEY_SANITIZE=ON

build-asan: deps $(ASAN_BUILD)/CMakeCache.txt
	cmake --build $(ASAN_BUILD) -j$(JOBS)

# ThreadSanitizer: only the threaded parts' tests (parley_tsan_tests, see CMakeLists.txt), at -O1.
# No build type: -O1 from PARLEY_TSAN alone, and assert() on.
$(TSAN_BUILD)/CMakeCache.txt:
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE= -DPARLEY_TSAN=ON

build-tsan: deps $(TSAN_BUILD)/CMakeCache.txt
	cmake --build $(TSAN_BUILD) -j$(JOBS) --target parley_tsan_tests

# A data race is a failure: TSan exits with 66 when it reported one (halt_on_error=0 reports them
# all first). No suppressions: none was needed.
test-tsan: deps-test build-tsan
	TSAN_OPTIONS="halt_on_error=0 exitcode=66 second_deadlock_stack=1" \
	  $(TSAN_BUILD)/parley_tsan_tests --gtest_brief=1 --gtest_filter='$(TSAN_FILTER)'

# The soak (tests/soak/soak.mjs): SOAK_SECONDS of every kind of traffic at once against the real
# binary and SQLite store, then memory, descriptors, the log and every room's order checked.
# By hand (10 minutes by default); make test runs a 60 s one through CTest.
soak: deps-test npm-test build
	PARLEY_BIN=$(BUILD)/parley node tests/soak/soak.mjs $(SOAK_SECONDS)

run: build
	$(BUILD)/parley --host $(HOST) --port $(PORT) $(ARGS)

# A local cluster on loopback (scripts/cluster.sh): Redis, a throw-away PostgreSQL, three
# instances and nginx on http://127.0.0.1:$(PORT); Ctrl-C stops it all. CLUSTER_MODE=single runs
# the same without --cluster (each instance its own database).
cluster: deps-cluster build
	PORT=$(PORT) scripts/cluster.sh $(BUILD)/parley

npm-test:
	@cd tests/integration && { [ -d node_modules/ws ] && [ -d node_modules/playwright-core ] || npm ci --no-audit --no-fund; }

# Every test: the normal build (unit, layers, web, integration, browser, soak), then the same
# suites under ASan + UBSan (but the browser tests: the server paths they take are the
# integration tests'), then the threaded parts' unit tests under TSan (~1.5 min to build from
# nothing on 2 cores, ~25 s to run), then each fuzzer briefly (fuzz-smoke, clang 14). The
# sanitizer and fuzzer builds compile at idle priority while the normal build's tests run
# (scripts/test-all.sh says why).
test: deps-test deps-fuzz npm-test build
	scripts/test-all.sh

test-fast: deps-test npm-test build
	cd $(BUILD) && ctest --output-on-failure -j1

test-asan: deps-test npm-test build-asan
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -j1 -E '^browser$$'

bench: build
	bench/run.sh $(BUILD)/parley $(BUILD)/bench/chatbench

bench-store: deps-test build
	bench/store-run.sh $(BUILD)/bench/storebench

# One instance against three (Redis + PostgreSQL), the scenarios of make bench, ratios in one run
# (bench/README.md, "bench-cluster"). BENCH_CLUSTER_MODE=single: the instances without --cluster.
bench-cluster: deps-cluster build
	bench/cluster-run.sh $(BUILD)/parley $(BUILD)/bench/chatbench

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
	rm -rf $(BUILD) $(ASAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD) build-fuzz-cov
