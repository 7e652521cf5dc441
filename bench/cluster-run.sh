#!/usr/bin/env bash
# One Parley instance against a cluster of three, all on PostgreSQL, the scenarios of `make bench`,
# ratios in one run: bench/cluster-run.sh [PARLEY_BIN] [CHATBENCH_BIN]
# (`make bench-cluster`). See bench/README.md, "bench-cluster".
#
# Variants (BENCH_CLUSTER_VARIANTS, in this order):
#   x1   one instance without --cluster: the baseline a user runs today
#   x1c  one instance with --cluster (Redis in the path, nobody to forward to): the machinery alone
#   x3   three instances with --cluster, clients spread round-robin over their ports
# Every variant runs each scenario on a fresh PostgreSQL database (one server for the whole run,
# fsync on) and, when it uses --cluster, a fresh redis-server. Every server-side process (the
# instances, Redis, PostgreSQL) is pinned to $BENCH_SERVER_CPU (0), the generator to
# $BENCH_GEN_CPU (1): on this 2-core machine the figures measure the cluster's overhead, not scale.
# Total CPU per delivery sums the instances, redis-server and PostgreSQL's processes (the
# postmaster with every backend, from /proc/PID/stat utime+stime, and what exited backends left
# in the postmaster's cutime+cstime) over the measured phase.
#
# Knobs (environment):
#   BENCH_CLUSTER_VARIANTS="x1 x3"         which variants (x1c too for the machinery alone)
#   BENCH_CLUSTER_MODE=cluster             "single": x3 and x1c run WITHOUT --cluster (each
#                                          instance its own database): proves the mechanics before
#                                          the cluster exists; x3's clients then see only their own
#                                          instance's messages (undelivered counts the rest)
#   BENCH_CLUSTER_INSTANCES=3              instances in x3
#   BENCH_CLUSTER_LEASE_MS=5000            --cluster-lease-ms
#   BENCH_SCENARIOS="fanout rate rooms idle"
#   BENCH_DURATION=10  BENCH_WARMUP=2      measured / warmup seconds per scenario
#   BENCH_RESULTS_DIR=bench/results        <timestamp>-cluster.jsonl goes there
#   BENCH_SERVER_CPU=0  BENCH_GEN_CPU=1    pinning
#   BENCH_NICE=-10  BENCH_QUIET_WAIT=30    as in run.sh
#   BENCH_PG_FSYNC=on                      PostgreSQL's fsync (on: real durability, as store-run.sh)
#   PARLEY_PG_BINDIR=/usr/lib/postgresql/15/bin
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
PARLEY_BIN=$(realpath "${1:-$repo/build/parley}")
CHATBENCH=${2:-$repo/build/bench/chatbench}
VARIANTS=${BENCH_CLUSTER_VARIANTS:-x1 x3}
MODE=${BENCH_CLUSTER_MODE:-cluster}
N_INST=${BENCH_CLUSTER_INSTANCES:-3}
LEASE_MS=${BENCH_CLUSTER_LEASE_MS:-5000}
SCENARIOS=${BENCH_SCENARIOS:-fanout rate rooms idle}
DURATION=${BENCH_DURATION:-10}
WARMUP=${BENCH_WARMUP:-2}
RESULTS_DIR=${BENCH_RESULTS_DIR:-$here/results}
SERVER_CPU=${BENCH_SERVER_CPU:-0}
GEN_CPU=${BENCH_GEN_CPU:-1}
NICE=${BENCH_NICE:--10}
QUIET_WAIT=${BENCH_QUIET_WAIT:-30}
PG_FSYNC=${BENCH_PG_FSYNC:-on}
PG_BINDIR=${PARLEY_PG_BINDIR:-/usr/lib/postgresql/15/bin}
# As run.sh: the message limits off (the scenarios send faster than people type, from one address).
LIMITS="--max-message-rate 0 --max-user-message-rate 0 --max-address-message-rate 0"

log() { printf '%s\n' "$*" >&2; }
die() { log "cluster-run.sh: $*"; exit 1; }

case "$MODE" in cluster | single) ;; *) die "BENCH_CLUSTER_MODE must be cluster or single" ;; esac
[ -x "$PARLEY_BIN" ] || die "$PARLEY_BIN not found (make build)"
[ -x "$CHATBENCH" ] || die "$CHATBENCH not found (make build)"
[ -x "$PG_BINDIR/initdb" ] || die "PostgreSQL 15 is missing from $PG_BINDIR (make bench-cluster installs it)"
command -v redis-server >/dev/null || die "redis-server is missing (make bench-cluster installs it)"
command -v curl >/dev/null || die "curl is missing"
if [ "$MODE" = cluster ] && [[ "$("$PARLEY_BIN" --help 2>&1)" != *--cluster* ]]; then
  die "this parley has no --cluster yet: BENCH_CLUSTER_MODE=single proves the mechanics without it"
fi
"$CHATBENCH" --self-test >/dev/null || die "chatbench --self-test failed"

# --- preflight (as run.sh) ----------------------------------------------------------------------
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
IDLE_CLIENTS=15000
if [ "$NOFILE" != unlimited ] && [ "$NOFILE" -lt $((IDLE_CLIENTS + 200)) ]; then
  IDLE_CLIENTS=$(((NOFILE - 200) / 10 * 10))
  log "cluster-run.sh: open-file limit is $NOFILE: idle scenario capped at $IDLE_CLIENTS clients"
fi
# shellcheck source=bench/scenarios.sh
. "$here/scenarios.sh"

NICE_CMD=()
if [ "$NICE" != 0 ] && nice -n "$NICE" true 2>/dev/null && [ "$(nice -n "$NICE" nice)" -lt "$(nice)" ] 2>/dev/null; then
  NICE_CMD=(nice -n "$NICE")
fi
PIN=("${NICE_CMD[@]}")
GEN_PIN=()
if [ "$(nproc)" -ge 2 ]; then
  PIN=("${NICE_CMD[@]}" taskset -c "$SERVER_CPU")
  GEN_PIN=(--cpu "$GEN_CPU")
fi
as_pg=()
[ "$(id -u)" -eq 0 ] && as_pg=(runuser -u postgres --)

work=$(mktemp -d /tmp/parley-bench-cluster.XXXXXX)
chmod 755 "$work"
mkdir -p "$RESULTS_DIR"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
JSONL="$RESULTS_DIR/$stamp-cluster.jsonl"

json_str() { local s=${1//\\/\\\\}; s=${s//\"/\\\"}; printf '"%s"' "${s//$'\n'/ }"; }
record() { # label scenario status reason
  printf '{"tool":"cluster-run.sh","label":%s,"scenario":%s,"status":%s,"reason":%s}\n' \
    "$(json_str "$1")" "$(json_str "$2")" "$(json_str "$3")" "$(json_str "$4")" >>"$JSONL"
}
printf '{"tool":"cluster-run.sh","event":"start","time":"%s","git":%s,"mode":"%s","variants":%s,"scenarios":%s,"duration_s":%s,"warmup_s":%s,"instances":%s,"pg_fsync":"%s","cpus":%s}\n' \
  "$stamp" "$(json_str "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo none)")" "$MODE" \
  "$(json_str "$VARIANTS")" "$(json_str "$SCENARIOS")" "$DURATION" "$WARMUP" "$N_INST" "$PG_FSYNC" "$(nproc)" >"$JSONL"

busy_pct() {
  local a b tot=0 idle k
  read -ra a < <(head -1 /proc/stat); sleep 1; read -ra b < <(head -1 /proc/stat)
  for k in 1 2 3 4 5 6 7 8; do tot=$((tot + b[k] - a[k])); done
  idle=$((b[4] - a[4] + b[5] - a[5]))
  echo $(((tot - idle) * 100 / (tot > 0 ? tot : 1)))
}
port_busy() { [ -n "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ]; }
free_port() {
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 25000))
    port_busy "$p" || { echo "$p"; return 0; }
  done
  return 1
}

# --- processes ----------------------------------------------------------------------------------
GROUPS_RUNNING=() # process groups (setsid) of this scenario: instances and Redis
start_group() { # logfile command... -> sets LAST_PID
  local logf=$1
  shift
  setsid "${PIN[@]}" "$@" >"$logf" 2>&1 </dev/null &
  LAST_PID=$!
  GROUPS_RUNNING+=("$LAST_PID")
}
stop_groups() {
  local pid
  for pid in "${GROUPS_RUNNING[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
  for pid in "${GROUPS_RUNNING[@]}"; do
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
  done
  GROUPS_RUNNING=()
}
PG_DATA=$work/pg PG_PORT="" PG_PID=""
cleanup() {
  stop_groups
  if [ -f "$PG_DATA/postmaster.pid" ]; then
    "${as_pg[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 ||
      "${as_pg[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'log "cluster-run.sh: interrupted"; exit 130' INT TERM

wait_healthz() { # port pid logfile -> 0 when /healthz answers 200
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$1/healthz" 2>/dev/null && return 0
    kill -0 "$2" 2>/dev/null || { START_ERROR="exited at start-up: $(tail -3 "$3" | tr '\n' ' ' | cut -c1-300)"; return 1; }
    sleep 0.1
  done
  START_ERROR="/healthz not 200 on $1 within 30 s"
  return 1
}

# --- PostgreSQL, once for the run ---------------------------------------------------------------
PG_PORT=$(free_port) || die "no free port"
mkdir "$PG_DATA"
[ ${#as_pg[@]} -gt 0 ] && chown postgres: "$PG_DATA"
"${as_pg[@]}" "$PG_BINDIR/initdb" --no-sync -A trust -U parley -E UTF8 --locale C -D "$PG_DATA" >"$work/initdb.log" 2>&1 ||
  die "initdb failed: $(tail -3 "$work/initdb.log")"
# Pinned with the servers (taskset is inherited by every backend the postmaster forks).
"${PIN[@]}" "${as_pg[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -w -l "$PG_DATA/log" \
  -o "-p $PG_PORT -k $PG_DATA -c listen_addresses=127.0.0.1 -c fsync=$PG_FSYNC -c synchronous_commit=on" start >/dev/null ||
  die "PostgreSQL did not start: $(tail -3 "$PG_DATA/log")"
PG_PID=$(head -1 "$PG_DATA/postmaster.pid")
psql_do() { "$PG_BINDIR/psql" -h 127.0.0.1 -p "$PG_PORT" -U parley -d postgres -v ON_ERROR_STOP=1 -X -q -c "$1" >/dev/null 2>&1; }

# --- one (variant, scenario) --------------------------------------------------------------------
# Starts what the variant needs; sets PORTS, SRV_PIDS, INFRA_PIDS, or START_ERROR.
start_variant() { # variant scenario
  local variant=$1 scenario=$2 n clustered i p db args redis_url=""
  START_ERROR="" PORTS=() SRV_PIDS=() INFRA_PIDS=("$PG_PID")
  case "$variant" in
    x1) n=1 clustered=0 ;;
    x1c) n=1 clustered=1 ;;
    x3) n=$N_INST clustered=1 ;;
    *) START_ERROR="unknown variant $variant"; return 1 ;;
  esac
  [ "$MODE" = single ] && clustered=0
  if [ "$clustered" = 1 ]; then
    local rport
    rport=$(free_port) || { START_ERROR="no free port"; return 1; }
    mkdir -p "$work/redis-$variant-$scenario"
    start_group "$work/redis.$variant.$scenario.log" redis-server --bind 127.0.0.1 --port "$rport" \
      --save '' --appendonly no --dir "$work/redis-$variant-$scenario" --maxmemory-policy noeviction
    INFRA_PIDS+=("$LAST_PID")
    for _ in $(seq 1 50); do [ "$(redis-cli -p "$rport" ping 2>/dev/null)" = PONG ] && break; sleep 0.1; done
    redis_url="redis://127.0.0.1:$rport"
  fi
  for ((i = 1; i <= n; i++)); do
    # One database for a cluster; without the cluster each instance needs its own.
    db="b_${variant}_${scenario}"
    [ "$clustered" = 0 ] && [ "$n" -gt 1 ] && db="${db}_$i"
    if [ "$i" = 1 ] || [ "$clustered" = 0 ]; then
      psql_do "CREATE DATABASE $db" || { START_ERROR="CREATE DATABASE $db failed"; return 1; }
    fi
    p=$(free_port) || { START_ERROR="no free port"; return 1; }
    # shellcheck disable=SC2206
    args=(--threads 1 --host 127.0.0.1 --port "$p" --db "postgres://parley@127.0.0.1:$PG_PORT/$db" $LIMITS)
    [ "$clustered" = 1 ] && args+=(--cluster "$redis_url" --instance-id "$variant-$i" --cluster-lease-ms "$LEASE_MS")
    start_group "$work/parley.$variant.$scenario.$i.log" env PARLEY_JWT_SECRET=bench-cluster-secret-0123456789abcdef "$PARLEY_BIN" "${args[@]}"
    wait_healthz "$p" "$LAST_PID" "$work/parley.$variant.$scenario.$i.log" || return 1
    PORTS+=("$p") SRV_PIDS+=("$LAST_PID") # setsid, taskset, nice and env exec: the pid is parley's
  done
  sleep 0.5 # let them settle (a cluster: leases taken, every instance seen)
}

log "cluster-run.sh: results -> $JSONL (mode $MODE, variants $VARIANTS)"
[ "$MODE" = single ] && log "cluster-run.sh: single mode: no --cluster anywhere; x3's clients see only their own instance's messages"
for scenario in $SCENARIOS; do
  for variant in $VARIANTS; do
    shape=$(scenario_args "$scenario" parley) || { log "cluster-run.sh: unknown scenario $scenario"; continue; }
    log ""
    log "=== $variant / $scenario"
    quiet_deadline=$((SECONDS + QUIET_WAIT))
    busy=$(busy_pct)
    while [ "$busy" -gt 15 ] && [ $SECONDS -lt $quiet_deadline ]; do busy=$(busy_pct); done
    [ "$busy" -gt 15 ] && log "cluster-run.sh: WARNING: machine ${busy}% busy before this scenario: figures will be noisy"
    if ! start_variant "$variant" "$scenario"; then
      log "cluster-run.sh: $variant: $START_ERROR"
      record "$variant" "$scenario" not_started "$START_ERROR"
      stop_groups
      continue
    fi
    out="$work/out.$variant.$scenario"
    limit=$((120 + 30 + ${WARMUP%.*} + ${DURATION%.*} + 10 + 30))
    # shellcheck disable=SC2086
    timeout -k 5 "$limit" "${NICE_CMD[@]}" "$CHATBENCH" --host 127.0.0.1 --ports "$(IFS=,; echo "${PORTS[*]}")" $shape \
      --duration "$DURATION" --warmup "$WARMUP" --server-pid "$(IFS=,; echo "${SRV_PIDS[*]}")" \
      --infra-pid "$(IFS=,; echo "${INFRA_PIDS[*]}")" "${GEN_PIN[@]}" --json --label "$variant" --scenario "$scenario" \
      >"$out" 2>"$out.err"
    rc=$?
    grep -v '^{' "$out" >&2
    alive=1
    for pid in "${SRV_PIDS[@]}" "${INFRA_PIDS[@]}"; do kill -0 "$pid" 2>/dev/null || alive=0; done
    if grep -q '^{' "$out"; then
      status=ok reason=""
      [ $rc -ne 0 ] && status=failed reason="chatbench exit $rc"
      [ $alive -eq 0 ] && status=failed reason="a server process died during the scenario"
      grep '^{' "$out" | tail -1 |
        sed "s/^{/{\"status\":\"$status\",\"reason\":\"$reason\",\"busy_before_pct\":$busy,\"instances\":${#PORTS[@]},/" >>"$JSONL"
    else
      reason="chatbench exit $rc: $(tail -2 "$out.err" | tr '\n' ' ' | cut -c1-200)"
      log "cluster-run.sh: $variant/$scenario failed: $reason"
      record "$variant" "$scenario" failed "$reason"
    fi
    stop_groups
    sleep 1
  done
done

log ""
python3 "$here/cluster_summary.py" "$JSONL" || log "cluster-run.sh: no summary (python3?); figures in $JSONL"
log "cluster-run.sh: results saved to $JSONL"
