# Parley: `make run` starts the server, `make test` runs every test. Both install what is missing.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= 2
HOST       ?= 127.0.0.1
PORT       ?= 8000
ARGS       ?=

.PHONY: all run test test-fast test-asan build build-asan deps deps-test npm-test bench bench-store format clean

all: build

deps:
	@scripts/install-deps.sh build

deps-test:
	@scripts/install-deps.sh test

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

format:
	clang-format -i $$(git ls-files 'src/*.cpp' 'src/*.h' 'tests/*.cpp' 'bench/*.cpp' 'bench/*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
