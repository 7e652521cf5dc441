#!/usr/bin/env bash
# Runs every fuzz target of a fuzz build for a set time, one after the other (the machine's cores
# are shared), each from its committed corpus (tests/fuzz/corpus/<target>/) plus a scratch corpus
# kept in the build directory (new inputs go there, never into the repository). Then prints one
# line of figures per target. With --replay, afterwards runs each committed corpus file once
# (what CI checks: every past crash, kept as a corpus file, stays fixed).
#
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS [--replay]
# Exit status: non-zero when any target crashed, leaked, timed out or failed a replay; the
# input that did it is saved as BUILD_DIR/crashes/<target>-crash-<sha1> (or leak-, timeout-).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$(cd "$1" && pwd)
seconds=$2
replay=${3:-}

# Per-target options: the HTTP target needs inputs past the 8 KiB header limit.
declare -A extra=([fuzz_http_request]="-max_len=12288")
# Lines a target's code prints on every input (recovery reports): not worth a terminal.
noise='recovered [0-9]+ messages from the inbox logs'

mkdir -p "$build/crashes" "$build/logs"
failed=()
summary=()
while read -r t; do
  [ -n "$t" ] || continue
  committed="$here/corpus/$t"
  scratch="$build/corpus/$t"
  mkdir -p "$scratch"
  dict=()
  [ -f "$here/dict/$t.dict" ] && dict=("-dict=$here/dict/$t.dict")
  log="$build/logs/$t.log"
  echo "== $t: ${seconds}s from $(ls "$committed" | wc -l) committed + $(ls "$scratch" | wc -l) scratch inputs"
  "$build/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$build/crashes/$t-" ${extra[$t]:-} "${dict[@]}" "$scratch" "$committed" \
    > "$log" 2>&1
  status=$?
  grep -Ev "$noise" "$log" | grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|ERROR|FUZZ_CHECK|SUMMARY|Test unit written' || true
  [ $status -eq 0 ] || failed+=("$t (fuzzing, exit $status: see $log)")
  # The figures: the DONE line's coverage and corpus, the final stats' speed.
  done_line=$(grep -E '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1)
  cov=$(sed -nE 's/.* cov: ([0-9]+) ft: ([0-9]+) corp: ([0-9]+)\/([0-9]+[a-zA-Z]*).*/\1 \2 \3 \4/p' <<< "$done_line")
  runs=$(sed -nE 's/^stat::number_of_executed_units: ([0-9]+)/\1/p' "$log")
  speed=$(sed -nE 's/^stat::average_exec_per_sec: +([0-9]+)/\1/p' "$log")
  rss=$(sed -nE 's/^stat::peak_rss_mb: +([0-9]+)/\1/p' "$log")
  read -r c f units bytes <<< "${cov:-? ? ? ?}"
  summary+=("$(printf '%-20s %8s %10s %8s %6s %7s %6s %8s %6s' "$t" "${seconds}s" "${runs:-?}" \
    "${speed:-?}" "$c" "$f" "$units" "$bytes" "${rss:-?}")")

  if [ "$replay" = --replay ]; then
    files=("$committed"/*)
    if "$build/$t" -runs=1 "${files[@]}" > "$build/logs/$t.replay.log" 2>&1; then
      echo "   replayed ${#files[@]} committed inputs: ok"
    else
      grep -E 'Running:|ERROR|FUZZ_CHECK|SUMMARY' "$build/logs/$t.replay.log" | tail -5
      failed+=("$t (replay of the committed corpus: see $build/logs/$t.replay.log)")
    fi
  fi
done < "$build/targets.txt"

echo
printf '%-20s %8s %10s %8s %6s %7s %6s %8s %6s\n' target time execs exec/s cov ft corpus bytes rssMB
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
  echo
  printf 'FAILED: %s\n' "${failed[@]}"
  exit 1
fi
