#!/usr/bin/env bash
# Parley vs. peer chat servers, one run: bench/run.sh [PARLEY_BIN] [CHATBENCH_BIN]
# (`make bench` runs `bench/run.sh build/parley build/bench/chatbench`). See bench/README.md.
#
# Each server runs alone, pinned to CPU $BENCH_SERVER_CPU (0), started fresh for each scenario; the
# generator is pinned to CPU $BENCH_GEN_CPU (1) and reads the server's CPU time and RSS from /proc.
# Knobs (environment):
#   BENCH_SERVERS="parley bun node-ws seed-fastapi"   which servers ("parley" = every Parley variant below)
#   BENCH_SCENARIOS="fanout rate rooms idle"           which scenarios
#   BENCH_DURATION=10  BENCH_WARMUP=2                  measured / warmup seconds per scenario
#   BENCH_PEERS_DIR=<repo>/../shared/peers             where the peers' run.sh live
#   BENCH_RESULTS_DIR=bench/results                    where <timestamp>.jsonl goes
#   BENCH_SERVER_CPU=0  BENCH_GEN_CPU=1                pinning
#   BENCH_START_TIMEOUT=300                            seconds for a server to listen (first runs install deps)
#   BENCH_NICE=-10                                     niceness of server and generator (shields them from a
#                                                      build running next door; needs root, else ignored)
#   BENCH_QUIET_WAIT=30                                seconds to wait for an otherwise idle machine per scenario
# Every step is bounded in time; a server that does not start or a scenario that fails is reported
# as such and the run goes on.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
PARLEY_BIN=${1:-$repo/build/parley}
CHATBENCH=${2:-$repo/build/bench/chatbench}
SERVERS=${BENCH_SERVERS:-parley bun node-ws seed-fastapi}
SCENARIOS=${BENCH_SCENARIOS:-fanout rate rooms idle}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
PEERS_DIR=${BENCH_PEERS_DIR:-$repo/../shared/peers}
RESULTS_DIR=${BENCH_RESULTS_DIR:-$here/results}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
GEN_CPU=${BENCH_GEN_CPU:-1}
START_TIMEOUT=${BENCH_START_TIMEOUT:-300}
NICE=${BENCH_NICE:--10}
QUIET_WAIT=${BENCH_QUIET_WAIT:-30}

# Parley variants: "name|extra arguments|a flag that `parley --help` must mention (empty: none)".
# Every variant also gets `--threads 1 --port PORT`. Add or remove lines here.
# The message limits (per connection, per user, per address: the 1,000 clients share one address)
# are off: the scenarios send faster than a person types, and the peers have no such limit.
PARLEY_VARIANTS=(
  "parley|--max-message-rate 0 --max-user-message-rate 0 --max-address-message-rate 0|"
  "parley-nodb|--db none --max-message-rate 0 --max-user-message-rate 0 --max-address-message-rate 0|--db"
)

# Scenario shapes: bench/scenarios.sh (shared with cluster-run.sh, so both run the same load).
# shellcheck source=bench/scenarios.sh
. "$here/scenarios.sh"

log() { printf '%s\n' "$*" >&2; }

# --- preflight --------------------------------------------------------------------------------
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
IDLE_CLIENTS=15000
if [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt $((IDLE_CLIENTS + 200)) ]; then
  IDLE_CLIENTS=$(((NOFILE - 200) / 10 * 10))
  log "run.sh: open-file limit is $NOFILE: idle scenario capped at $IDLE_CLIENTS clients"
fi
if [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt 10200 ]; then
  log "run.sh: open-file limit is $NOFILE (< 10200): the rooms scenario will fail to connect everyone"
fi

ncpu=$(nproc 2>/dev/null || echo 1)
NICE_CMD=()
if [ "$NICE" != 0 ] && nice -n "$NICE" true 2>/dev/null && [ "$(nice -n "$NICE" nice)" -lt "$(nice)" ] 2>/dev/null; then
  NICE_CMD=(nice -n "$NICE")
fi
if [ "$ncpu" -ge 2 ]; then
  PIN_SERVER=("${NICE_CMD[@]}" taskset -c "$SERVER_CPU")
  GEN_PIN=(--cpu "$GEN_CPU")
else
  log "run.sh: only $ncpu CPU: no pinning, server and generator share it (figures are not comparable)"
  PIN_SERVER=("${NICE_CMD[@]}")
  GEN_PIN=()
fi

workdir=$(mktemp -d /tmp/parley-bench.XXXXXX)
mkdir -p "$RESULTS_DIR"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
JSONL="$RESULTS_DIR/$stamp.jsonl"

if [ ! -x "$CHATBENCH" ]; then
  log "run.sh: $CHATBENCH not found: building it with g++"
  CHATBENCH="$workdir/chatbench"
  g++ -std=c++20 -O2 "$here/chatbench.cpp" -o "$CHATBENCH" -pthread || { log "run.sh: cannot build chatbench"; exit 1; }
fi
"$CHATBENCH" --self-test >/dev/null || { log "run.sh: chatbench --self-test failed"; exit 1; }

PY=$(command -v python3 || true)
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

json_str() { # escape for a JSON string
  local s=${1//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/ }
  printf '"%s"' "${s//$'\t'/ }"
}
record() { # server scenario status reason [note]
  printf '{"tool":"run.sh","label":%s,"scenario":%s,"status":%s,"reason":%s,"note":%s}\n' \
    "$(json_str "$1")" "$(json_str "$2")" "$(json_str "$3")" "$(json_str "$4")" "$(json_str "${5:-}")" >>"$JSONL"
}

printf '{"tool":"run.sh","event":"start","time":"%s","git":%s,"servers":%s,"scenarios":%s,"duration_s":%s,"warmup_s":%s,"cpus":%s,"nofile":%s,"kernel":%s}\n' \
  "$stamp" "$(json_str "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo none)")" "$(json_str "$SERVERS")" \
  "$(json_str "$SCENARIOS")" "$DURATION" "$WARMUP" "$ncpu" "$(json_str "$NOFILE")" "$(json_str "$(uname -r)")" >"$JSONL"

# Warn when something else is using the CPUs: every figure here assumes an otherwise idle machine.
busy_pct() {
  local a b
  a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
  local tot=0 idle=0 k
  for k in 1 2 3 4 5 6 7 8; do tot=$((tot + b[k] - a[k])); done
  idle=$((b[4] - a[4] + b[5] - a[5]))
  echo $(((tot - idle) * 100 / (tot > 0 ? tot : 1)))
}

# --- servers ----------------------------------------------------------------------------------
SRV_PID="" SRV_PGID="" SRV_PORT="" SRV_LOG=""

free_port() {
  local p tries
  for tries in $(seq 1 100); do
    p=$((20000 + RANDOM % 12000))
    if [ -z "$(ss -Htan "( sport = :$p )" 2>/dev/null)" ]; then echo "$p"; return 0; fi
  done
  return 1
}

listener_pid() { # port -> pid of the process listening on it
  ss -Htlnp "( sport = :$1 )" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2
}

start_server() { # name -> 0 and SRV_* set, or 1 with START_ERROR set
  local name=$1 cmd=() dir
  START_ERROR=""
  SRV_PORT=$(free_port) || { START_ERROR="no free port"; return 1; }
  case "$name" in
    parley*)
      local v spec="" extra need
      for v in "${PARLEY_VARIANTS[@]}"; do [ "${v%%|*}" = "$name" ] && spec=$v; done
      [ -n "$spec" ] || { START_ERROR="unknown Parley variant"; return 1; }
      extra=$(cut -d'|' -f2 <<<"$spec")
      need=$(cut -d'|' -f3 <<<"$spec")
      [ -x "$PARLEY_BIN" ] || { START_ERROR="not built ($PARLEY_BIN missing)"; return 1; }
      # (The help whole, then the test: `grep -q` quits early and, under pipefail, its writer's
      # SIGPIPE would fail the pipe.)
      if [ -n "$need" ] && [[ "$(timeout 10 "$PARLEY_BIN" --help 2>&1)" != *"$need"* ]]; then
        START_ERROR="skipped: \`parley --help\` does not mention $need"
        return 1
      fi
      dir="$workdir/$name-data"
      mkdir -p "$dir"
      # shellcheck disable=SC2206
      cmd=("$(realpath "$PARLEY_BIN")" --threads 1 --port "$SRV_PORT" $extra)
      ;;
    *)
      [ -x "$PEERS_DIR/$name/run.sh" ] || { START_ERROR="no $PEERS_DIR/$name/run.sh"; return 1; }
      dir="$PEERS_DIR/$name"
      cmd=("$PEERS_DIR/$name/run.sh" "$SRV_PORT")
      ;;
  esac
  SRV_LOG="$workdir/$name.$SRV_PORT.log"
  # setsid: its own process group, so stopping it also stops whatever it spawned
  (cd "$dir" && exec setsid "${PIN_SERVER[@]}" "${cmd[@]}") >"$SRV_LOG" 2>&1 </dev/null &
  SRV_PGID=$!
  SRV_PID=$SRV_PGID
  local deadline=$((SECONDS + START_TIMEOUT)) lp
  while [ $SECONDS -lt $deadline ]; do
    if ! kill -0 "$SRV_PGID" 2>/dev/null; then
      wait "$SRV_PGID" 2>/dev/null
      START_ERROR="exited at startup: $(tail -3 "$SRV_LOG" | tr '\n' ' ' | cut -c1-200)"
      SRV_PGID=""
      return 1
    fi
    lp=$(listener_pid "$SRV_PORT")
    if [ -n "$lp" ]; then
      SRV_PID=$lp
      sleep 0.5 # let it finish starting
      return 0
    fi
    sleep 0.2
  done
  START_ERROR="did not listen on port $SRV_PORT within ${START_TIMEOUT}s"
  stop_server
  return 1
}

stop_server() {
  [ -n "$SRV_PGID" ] || return 0
  kill -TERM -- "-$SRV_PGID" 2>/dev/null
  local k
  for k in $(seq 1 50); do
    kill -0 "$SRV_PGID" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$SRV_PGID" 2>/dev/null
  wait "$SRV_PGID" 2>/dev/null
  SRV_PGID="" SRV_PID=""
}

cleanup() {
  stop_server
  rm -rf "$workdir"
}
trap cleanup EXIT
trap 'log "run.sh: interrupted"; exit 130' INT TERM

expand_servers() {
  local s v
  for s in $SERVERS; do
    if [ "$s" = parley ]; then
      for v in "${PARLEY_VARIANTS[@]}"; do echo "${v%%|*}"; done
    else
      echo "$s"
    fi
  done
}

# --- run --------------------------------------------------------------------------------------
log "run.sh: results -> $JSONL"
for server in $(expand_servers); do
  for scenario in $SCENARIOS; do
    args=$(scenario_args "$scenario" "$server") || { log "run.sh: unknown scenario $scenario"; continue; }
    scenario_args "$scenario" "$server" >/dev/null  # sets NOTE in this shell
    log ""
    log "=== $server / $scenario ${NOTE:+($NOTE)}"
    # What other processes use right before: a compile next door skews everything. Wait a little for quiet.
    quiet_deadline=$((SECONDS + QUIET_WAIT))
    busy=$(busy_pct)
    while [ "$busy" -gt 15 ] && [ $SECONDS -lt $quiet_deadline ]; do busy=$(busy_pct); done
    [ "$busy" -gt 15 ] && log "run.sh: WARNING: machine ${busy}% busy before this scenario: figures will be noisy"
    if ! start_server "$server"; then
      log "run.sh: $server: $START_ERROR"
      record "$server" "$scenario" "not_started" "$START_ERROR" "$NOTE"
      continue
    fi
    out="$workdir/out.$server.$scenario"
    limit=$((120 + 30 + ${WARMUP%.*} + ${DURATION%.*} + 10 + 30))
    # shellcheck disable=SC2086
    timeout -k 5 "$limit" "${NICE_CMD[@]}" "$CHATBENCH" --host 127.0.0.1 --port "$SRV_PORT" $args --duration "$DURATION" \
      --warmup "$WARMUP" --server-pid "$SRV_PID" "${GEN_PIN[@]}" --json --label "$server" --scenario "$scenario" \
      --note "$NOTE" >"$out" 2>"$out.err"
    rc=$?
    grep -v '^{' "$out" >&2
    alive=1
    kill -0 "$SRV_PID" 2>/dev/null || alive=0
    if grep -q '^{' "$out"; then
      status=ok reason=""
      [ $rc -ne 0 ] && status=failed reason="chatbench exit $rc"
      [ $alive -eq 0 ] && status=failed reason="server died during the scenario"
      grep '^{' "$out" | tail -1 |
        sed "s/^{/{\"status\":\"$status\",\"reason\":\"$reason\",\"busy_before_pct\":$busy,/" >>"$JSONL"
    else
      reason="chatbench exit $rc: $(tail -2 "$out.err" | tr '\n' ' ' | cut -c1-200)"
      [ $alive -eq 0 ] && reason="server died; $reason"
      log "run.sh: $server/$scenario failed: $reason"
      record "$server" "$scenario" "failed" "$reason" "$NOTE"
    fi
    stop_server
    sleep 1 # let the kernel reap the closed connections
  done
done

log ""
if [ -n "$PY" ]; then
  "$PY" "$here/summarize.py" "$JSONL"
else
  log "run.sh: no python3: tables skipped; the figures are in $JSONL"
fi
log "run.sh: results saved to $JSONL"
