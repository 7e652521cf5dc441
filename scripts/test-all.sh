#!/usr/bin/env bash
# `make test`: every test. The normal build's tests run first; meanwhile the sanitizer and fuzzer
# builds compile at idle priority (nice 19), since those tests mostly wait on sockets, timers and
# child processes and leave the cores idle. The builds then cost the run little wall time instead
# of standing in line after the tests (on 2 cores: the ASan, TSan and clang fuzz builds are most
# of the sanitizer phases' time). The tests keep their priority: a nice 19 process gets ~1.5% of
# a core that a normal one wants (CFS weights 15 against 1024).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
log="$BUILD/background-builds.log"
mkdir -p "$BUILD"
rm -f "$BUILD/background-builds.rc"
# (setsid: the builds are a process group of their own, stopped whole if the tests fail.)
setsid bash -c 'nice -n 19 make --no-print-directory build-asan build-tsan fuzz-build >"$1" 2>&1
  echo $? >"$2"' _ "$log" "$BUILD/background-builds.rc" &
background=$!
stop_background() { kill -- "-$background" 2>/dev/null || true; }
trap stop_background INT TERM

if ! make --no-print-directory test-fast; then
  stop_background
  exit 1
fi
wait "$background"
rc=$(cat "$BUILD/background-builds.rc" 2>/dev/null || echo 1)
if [ "$rc" != 0 ]; then
  echo "the sanitizer/fuzzer builds failed (exit $rc); the end of $log:" >&2
  tail -n 60 "$log" >&2
  exit "$rc"
fi
exec make --no-print-directory test-asan test-tsan fuzz-smoke
