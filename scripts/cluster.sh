#!/usr/bin/env bash
# A whole local Parley cluster on loopback, for trying it out (`make cluster`):
#   scripts/cluster.sh [PARLEY_BIN]        (default build/parley)
# Starts, in a temp dir: a redis-server, a throw-away PostgreSQL 15, CLUSTER_INSTANCES (3) Parley
# instances sharing that database and Redis (same --jwt-secret, distinct --instance-id), and
# nginx in front of them on http://127.0.0.1:$PORT (8000), then prints what runs where and waits.
# Ctrl-C (or SIGTERM) stops everything and removes the temp dir; so does the death of any of
# them (the script then exits 1 and prints the last lines of what died).
#
# Knobs (environment):
#   PORT=8000                 where nginx listens (the only address you need)
#   CLUSTER_INSTANCES=3       how many Parley instances
#   CLUSTER_MODE=cluster      "cluster": instances run with --cluster (one shared database);
#                             "single": no cluster flags, each instance its own database (what
#                             works before the cluster lands; rooms are then per instance)
#   CLUSTER_LEASE_MS=5000     --cluster-lease-ms
#   CLUSTER_ARGS=""           more arguments for every instance
#   PARLEY_JWT_SECRET         shared by the instances (default: a random one per run)
#   CLUSTER_KEEP=0            1: keep the temp dir (logs) after stopping
#   PARLEY_PG_BINDIR=/usr/lib/postgresql/15/bin
# As root, PostgreSQL's binaries run as the `postgres` user (initdb refuses root).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
PARLEY_BIN=$(realpath "${1:-$repo/build/parley}")
PORT=${PORT:-8000}
INSTANCES=${CLUSTER_INSTANCES:-3}
MODE=${CLUSTER_MODE:-cluster}
LEASE_MS=${CLUSTER_LEASE_MS:-5000}
EXTRA_ARGS=${CLUSTER_ARGS:-}
KEEP=${CLUSTER_KEEP:-0}
PG_BINDIR=${PARLEY_PG_BINDIR:-/usr/lib/postgresql/15/bin}
# The variable, not the flag: a flag shows in ps.
export PARLEY_JWT_SECRET=${PARLEY_JWT_SECRET:-$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')}

log() { printf 'cluster: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

case "$MODE" in cluster | single) ;; *) die "CLUSTER_MODE must be cluster or single (not $MODE)" ;; esac
[ -x "$PARLEY_BIN" ] || die "$PARLEY_BIN not found: run make build first"
for b in redis-server nginx curl; do command -v "$b" >/dev/null || die "$b is missing (make cluster installs it)"; done
[ -x "$PG_BINDIR/initdb" ] || die "PostgreSQL 15 is missing from $PG_BINDIR (make cluster installs it)"
if [ "$MODE" = cluster ] && [[ "$("$PARLEY_BIN" --help 2>&1)" != *--cluster* ]]; then
  die "this parley has no --cluster yet: run with CLUSTER_MODE=single to try the rest"
fi

port_busy() { [ -n "$(ss -Htln "( sport = :$1 )" 2>/dev/null)" ]; }
free_port() { # a port nobody listens on, not in $TAKEN
  local p
  for _ in $(seq 1 200); do
    p=$((20000 + RANDOM % 25000))
    port_busy "$p" || [[ " $TAKEN " == *" $p "* ]] || { TAKEN="$TAKEN $p"; echo "$p"; return 0; }
  done
  die "no free port"
}
port_busy "$PORT" && die "port $PORT is taken: PORT=8080 make cluster"
TAKEN=" $PORT"

work=$(mktemp -d /tmp/parley-cluster.XXXXXX)
chmod 755 "$work" # the postgres user must reach its data dir inside
as_pg=()
if [ "$(id -u)" -eq 0 ]; then
  id -u postgres >/dev/null 2>&1 || die "running as root, but there is no postgres user"
  as_pg=(runuser -u postgres --)
fi

# --- supervision and clean-up -----------------------------------------------------------------
NAMES=() PIDS=() # what runs, in start order (each in its own process group: setsid)
PG_DATA="" STOPPING=0

stop_all() {
  [ "$STOPPING" = 1 ] && return
  STOPPING=1
  trap '' INT TERM
  log "stopping"
  local i pid
  # nginx first (no new clients), then the instances (close 1001, clients get a grace),
  # then Redis and PostgreSQL, which the instances used until the end.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    pid=${PIDS[$i]}
    kill -TERM -- "-$pid" 2>/dev/null || continue
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$PG_DATA" ] && [ -f "$PG_DATA/postmaster.pid" ]; then
    "${as_pg[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 ||
      "${as_pg[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ "$KEEP" = 1 ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start() { # name logfile command...: in its own process group, so Ctrl-C reaches only this script
  local name=$1 logf=$2
  shift 2
  setsid "$@" >"$logf" 2>&1 </dev/null &
  NAMES+=("$name") PIDS+=("$!")
}

wait_http() { # name url pid: until the URL answers 200 (or the process dies, or 30 s pass)
  for _ in $(seq 1 300); do
    curl -fsS -o /dev/null --max-time 1 "$2" 2>/dev/null && return 0
    kill -0 "$3" 2>/dev/null || die "$1 exited at start-up: $(tail -5 "$work/$1.log")"
    sleep 0.1
  done
  die "$1 did not answer $2 within 30 s: $(tail -5 "$work/$1.log")"
}

# --- PostgreSQL -------------------------------------------------------------------------------
PG_PORT=$(free_port)
PG_DATA=$work/pg
mkdir "$PG_DATA"
[ ${#as_pg[@]} -gt 0 ] && chown postgres: "$PG_DATA"
"${as_pg[@]}" "$PG_BINDIR/initdb" --no-sync -A trust -U parley -E UTF8 --locale C -D "$PG_DATA" >"$work/initdb.log" 2>&1 ||
  die "initdb failed: $(tail -5 "$work/initdb.log")"
# A throw-away database for trying things: fsync off (nothing here is meant to outlive the run).
"${as_pg[@]}" "$PG_BINDIR/pg_ctl" -D "$PG_DATA" -w -l "$PG_DATA/log" \
  -o "-p $PG_PORT -k $PG_DATA -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100" start >/dev/null ||
  die "PostgreSQL did not start: $(tail -5 "$PG_DATA/log")"
PG_PID=$(head -1 "$PG_DATA/postmaster.pid")
pg_url() { echo "postgres://parley@127.0.0.1:$PG_PORT/$1"; }
psql_do() { "$PG_BINDIR/psql" -h 127.0.0.1 -p "$PG_PORT" -U parley -d postgres -v ON_ERROR_STOP=1 -X -q -c "$1"; }
DBS=()
if [ "$MODE" = cluster ]; then
  psql_do "CREATE DATABASE parley" && DBS=("$(pg_url parley)")
else
  for ((i = 1; i <= INSTANCES; i++)); do psql_do "CREATE DATABASE parley_$i" && DBS+=("$(pg_url "parley_$i")"); done
fi

# --- Redis ------------------------------------------------------------------------------------
REDIS_PORT=$(free_port)
mkdir "$work/redis"
# No persistence: nothing authoritative lives in Redis (docs/OPERATIONS.md). noeviction: a full
# Redis refuses writes rather than dropping Parley's leases and heartbeats.
start redis "$work/redis.log" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' \
  --appendonly no --dir "$work/redis" --maxmemory-policy noeviction --protected-mode no
for _ in $(seq 1 100); do
  [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ] && break
  kill -0 "${PIDS[-1]}" 2>/dev/null || die "redis-server exited: $(tail -5 "$work/redis.log")"
  sleep 0.1
done

# --- Parley instances -------------------------------------------------------------------------
INST_PORTS=()
for ((i = 1; i <= INSTANCES; i++)); do
  p=$(free_port)
  INST_PORTS+=("$p")
  db=${DBS[0]}
  [ "$MODE" = single ] && db=${DBS[$((i - 1))]}
  args=(--host 127.0.0.1 --port "$p" --db "$db")
  [ "$MODE" = cluster ] && args+=(--cluster "redis://127.0.0.1:$REDIS_PORT" --instance-id "parley-$i" --cluster-lease-ms "$LEASE_MS")
  # nginx is every client's address: the per-address limits would bound all users together
  # (docs/OPERATIONS.md: rate-limit by the real address at the proxy instead).
  # shellcheck disable=SC2206
  args+=(--max-address-message-rate 0 $EXTRA_ARGS)
  start "parley-$i" "$work/parley-$i.log" "$PARLEY_BIN" "${args[@]}"
  wait_http "parley-$i" "http://127.0.0.1:$p/healthz" "${PIDS[-1]}"
done

# --- nginx ------------------------------------------------------------------------------------
mkdir "$work/nginx"
servers=""
for p in "${INST_PORTS[@]}"; do servers+="    server 127.0.0.1:$p max_fails=1 fail_timeout=5s;"$'\n'; done
awk -v dir="$work/nginx" -v port="$PORT" -v servers="${servers%$'\n'}" \
  '{ gsub(/@DIR@/, dir); gsub(/@PORT@/, port); gsub(/@SERVERS@/, servers); print }' \
  "$here/nginx-cluster.conf.in" >"$work/nginx/nginx.conf"
start nginx "$work/nginx.log" nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log"
wait_http nginx "http://127.0.0.1:$PORT/healthz" "${PIDS[-1]}"

# --- what runs where --------------------------------------------------------------------------
{
  echo
  echo "Parley cluster ($MODE mode) — open http://127.0.0.1:$PORT"
  printf '  %-10s %-34s %-8s %s\n' what address pid log
  printf '  %-10s %-34s %-8s %s\n' nginx "http://127.0.0.1:$PORT" "${PIDS[-1]}" "$work/nginx/error.log"
  for ((i = 0; i < INSTANCES; i++)); do
    printf '  %-10s %-34s %-8s %s\n' "parley-$((i + 1))" "http://127.0.0.1:${INST_PORTS[$i]}" \
      "${PIDS[$((i + 1))]}" "$work/parley-$((i + 1)).log"
  done
  printf '  %-10s %-34s %-8s %s\n' redis "redis://127.0.0.1:$REDIS_PORT" "${PIDS[0]}" "$work/redis.log"
  for d in "${DBS[@]}"; do printf '  %-10s %-34s %-8s %s\n' postgres "$d" "$PG_PID" "$PG_DATA/log"; done
  [ "$MODE" = single ] && echo "  (single mode: no --cluster; each instance has its own rooms)"
  echo "Ctrl-C stops everything."
} >&2

# --- wait for Ctrl-C, or for something to die ---------------------------------------------------
while :; do
  for ((i = 0; i < ${#PIDS[@]}; i++)); do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      log "${NAMES[$i]} (pid ${PIDS[$i]}) died; its last lines:"
      tail -5 "$work/${NAMES[$i]}.log" >&2 2>/dev/null || true
      exit 1
    fi
  done
  kill -0 "$PG_PID" 2>/dev/null || { log "PostgreSQL (pid $PG_PID) died: $(tail -3 "$PG_DATA/log")"; exit 1; }
  sleep 1 &
  wait $! || true
done
