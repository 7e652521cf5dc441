#!/usr/bin/env bash
# Which lines of Parley's sources the committed corpus reaches: builds the fuzz targets with
# clang's source-based coverage (no sanitizers) in BUILD_DIR, replays each target's committed
# corpus once, and prints llvm-cov's report for the src/ files that target drives.
# Usage: tests/fuzz/coverage.sh [BUILD_DIR] (default build-fuzz-cov)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:-$root/build-fuzz-cov}
cmake -S "$here" -B "$build" -DCMAKE_CXX_COMPILER=clang++-14 -DPARLEY_FUZZ_COVERAGE=ON > /dev/null
cmake --build "$build" -j"${JOBS:-2}" > /dev/null

declare -A sources=(
  [fuzz_ws_frame]="net/WsCodec.cpp net/WsCodec.h"
  [fuzz_client_frame]="chat/Protocol.cpp"
  [fuzz_token]="auth/TokenService.cpp"
  [fuzz_upgrade_url]="chat/Names.cpp"
  [fuzz_http_request]="chat/Names.cpp"
  [fuzz_inbox_replay]="store/SqliteInbox.cpp"
)
while read -r t; do
  [ -n "$t" ] || continue
  rm -f "$build/$t.profraw"
  LLVM_PROFILE_FILE="$build/$t.profraw" "$build/$t" -runs=0 "$here/corpus/$t" > /dev/null 2>&1
  llvm-profdata-14 merge -sparse "$build/$t.profraw" -o "$build/$t.profdata"
  files=()
  for f in ${sources[$t]:-}; do files+=("$root/src/$f"); done
  echo "== $t ($(ls "$here/corpus/$t" | wc -l) committed inputs)"
  # Per function: lines and branches covered (the files also hold code this target does not drive).
  llvm-cov-14 report "$build/$t" -instr-profile="$build/$t.profdata" -show-functions \
    -Xdemangler c++filt "${files[@]}" | grep '%' | grep -v '^TOTAL' \
    | awk '{printf "  %-60.60s lines %8s  branches %8s\n", $1, $(NF-3), $NF}'
  llvm-cov-14 report "$build/$t" -instr-profile="$build/$t.profdata" "${files[@]}" \
    | awk -v what="${sources[$t]}" '/^TOTAL/ {printf "  %-60s lines %8s  branches %8s\n", "all of " what, $(NF-3), $NF}'
done < "$build/targets.txt"
