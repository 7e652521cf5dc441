#!/usr/bin/env bash
# The message store's throughput and commit latency, SQLite and PostgreSQL, one run:
#   bench/store-run.sh [STOREBENCH_BIN] [storebench options, e.g. --seconds 5]
# (default binary: build/bench/storebench). See bench/README.md, "storebench".
#
# SQLite: a fresh file in a temp dir (storebench creates and deletes it).
# PostgreSQL 15: a throw-away cluster (initdb in the temp dir, a free loopback port, trust auth),
# with fsync=on and synchronous_commit=on — the defaults, stated explicitly: every commit waits
# for its WAL flush, i.e. this measures real durability, unlike the integration tests' clusters
# (fsync off). `initdb --no-sync` only skips syncing initdb's own files. As root, the server-side
# binaries run as the `postgres` user (initdb refuses root). Stopped and removed on exit, also on
# Ctrl-C or a failure.
#
# SQLite runs once per --fsync policy (fresh file each): none (the OS writes back when it likes),
# batch (one fdatasync per group commit, the server's default) and always (batch, and every SQLite
# transaction synced), so the cost of each is measured side by side.
#
# Knobs (environment):
#   STORE_BENCH_STORES="sqlite postgres"   which stores
#   STORE_BENCH_FSYNC="none batch always"  SQLite's --fsync policies, one run each
#   PARLEY_PG_BINDIR=/usr/lib/postgresql/15/bin
#   STORE_RESULTS_FILE=                    if set, the JSON lines are appended there
# Exit status: 0 when every store ran (a PostgreSQL that is not installed is reported as skipped),
# 1 otherwise.
set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/.." && pwd)
BIN=${1:-$repo/build/bench/storebench}
[ $# -gt 0 ] && shift
STORES=${STORE_BENCH_STORES:-sqlite postgres}
FSYNCS=${STORE_BENCH_FSYNC:-none batch always}
PG_BINDIR=${PARLEY_PG_BINDIR:-/usr/lib/postgresql/15/bin}
RESULTS_FILE=${STORE_RESULTS_FILE:-}

if [ ! -x "$BIN" ]; then
  echo "store-run.sh: $BIN is not an executable (cmake --build build --target storebench)" >&2
  exit 1
fi

# storebench's own limit is cases x (warmup + seconds + 10) + 60; this outer one only catches a hang
# in it (5 cases, warmup <= 1 s assumed).
seconds=3
args=("$@")
for ((k = 0; k < ${#args[@]}; ++k)); do
  [ "${args[k]}" = --seconds ] && [ $((k + 1)) -lt ${#args[@]} ] && seconds=${args[k + 1]}
done
OUTER_TIMEOUT=$(awk -v s="$seconds" 'BEGIN { printf "%d", 5 * (s + 11) + 120 }')

tmp=$(mktemp -d "${TMPDIR:-/tmp}/parley-store-run-XXXXXX") || exit 1
chmod 711 "$tmp"  # the postgres user must reach $tmp/pg
pgdir=$tmp/pg
pg_started=0
child=

as_pg() { # BINARY ARGS... — a PostgreSQL server-side binary, as `postgres` when we are root
  local bin=$PG_BINDIR/$1
  shift
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$bin" "$@"; else "$bin" "$@"; fi
}

# shellcheck disable=SC2317  # run by the EXIT trap
cleanup() {
  [ -n "$child" ] && kill "$child" 2>/dev/null && wait "$child" 2>/dev/null
  if [ "$pg_started" = 1 ]; then
    as_pg pg_ctl -D "$pgdir" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      as_pg pg_ctl -D "$pgdir" -m immediate -w -t 10 stop >/dev/null 2>&1
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 30000))
}

# Runs storebench in the background (so a signal reaches our trap at once), output to $1.out.
run_storebench() { # NAME URL [more storebench options]
  local name=$1 url=$2
  shift 2
  echo
  timeout -k 10 "$OUTER_TIMEOUT" "$BIN" --db "$url" "$@" "${args[@]}" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  child=$!
  # Show it as it comes (the table arrives at the end of the run).
  tail -n +1 -f --pid="$child" "$tmp/$name.out" 2>/dev/null &
  local tailer=$!
  wait "$child"
  local rc=$?
  child=
  wait "$tailer" 2>/dev/null
  cat "$tmp/$name.err" >&2
  [ "$rc" = 124 ] && echo "store-run.sh: $name: storebench killed after ${OUTER_TIMEOUT} s" >&2
  if [ -n "$RESULTS_FILE" ]; then
    grep '^{"tool":"storebench"' "$tmp/$name.out" >>"$RESULTS_FILE"
  fi
  return "$rc"
}

start_postgres() {
  local _ port
  for tool in initdb pg_ctl postgres psql; do
    if [ ! -x "$PG_BINDIR/$tool" ]; then
      echo "skipped: PostgreSQL 15 is not installed ($PG_BINDIR/$tool missing; Debian packages" \
        "postgresql-15 postgresql-client-15, or set PARLEY_PG_BINDIR)" >"$tmp/postgres.skip"
      return 2
    fi
  done
  if [ "$(id -u)" = 0 ] && ! id -u postgres >/dev/null 2>&1; then
    echo "skipped: running as root but there is no postgres user to run initdb as" >"$tmp/postgres.skip"
    return 2
  fi
  mkdir -p "$pgdir"
  [ "$(id -u)" = 0 ] && chown postgres: "$pgdir"
  if ! as_pg initdb --no-sync -A trust -U parley -D "$pgdir" >"$tmp/initdb.log" 2>&1; then
    echo "store-run.sh: initdb failed:" >&2
    cat "$tmp/initdb.log" >&2
    return 1
  fi
  for _ in 1 2 3; do
    port=$(free_port)
    if as_pg pg_ctl -D "$pgdir" -w -t 60 -l "$pgdir/log" \
      -o "-p $port -k $pgdir -c listen_addresses=127.0.0.1 -c fsync=on -c synchronous_commit=on" \
      start >/dev/null 2>&1; then
      pg_started=1
      PG_PORT=$port
      return 0
    fi
    pg_started=1 # it may be half up: make sure cleanup stops it
    as_pg pg_ctl -D "$pgdir" -m immediate -w -t 10 stop >/dev/null 2>&1
    pg_started=0
  done
  echo "store-run.sh: PostgreSQL did not start (3 tries); its log:" >&2
  tail -n 30 "$pgdir/log" >&2
  return 1
}

psql_q() { "$PG_BINDIR/psql" -h 127.0.0.1 -p "$PG_PORT" -U parley -v ON_ERROR_STOP=1 -qAtX "$@"; }

fstype=$(df --output=fstype,source "$tmp" 2>/dev/null | tail -n 1 | tr -s ' ')
echo "store-run.sh: temp dir $tmp (${fstype:-?}), $(nproc) CPUs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
status=0
declare -A outcome
for store in $STORES; do
  case "$store" in
    sqlite)
      for fsync in $FSYNCS; do
        echo "== SQLite, --fsync $fsync (appends go to the inbox log; the database is WAL) =="
        if run_storebench "sqlite-$fsync" "sqlite:$tmp/sqlite-$fsync/store.db" --fsync "$fsync"; then
          outcome[sqlite-$fsync]=ok
        else
          outcome[sqlite-$fsync]=failed
          status=1
        fi
      done
      ;;
    postgres)
      echo
      start_postgres
      rc=$?
      if [ "$rc" = 2 ]; then
        outcome[postgres]=$(cat "$tmp/postgres.skip")
        echo "== PostgreSQL: ${outcome[postgres]} =="
        continue
      elif [ "$rc" != 0 ]; then
        outcome[postgres]="failed to start"
        status=1
        continue
      fi
      if ! psql_q -d postgres -c "CREATE DATABASE storebench" >/dev/null; then
        outcome[postgres]="CREATE DATABASE failed"
        status=1
        continue
      fi
      settings=$(psql_q -d storebench -F '|' -c "SELECT current_setting('server_version'),
          current_setting('fsync'), current_setting('synchronous_commit'),
          current_setting('wal_sync_method'), current_setting('full_page_writes')")
      IFS='|' read -r pg_version pg_fsync pg_sync pg_method pg_fpw <<<"$settings"
      echo "== PostgreSQL $pg_version on 127.0.0.1:$PG_PORT: fsync=$pg_fsync synchronous_commit=$pg_sync" \
        "wal_sync_method=$pg_method full_page_writes=$pg_fpw (every commit waits for its WAL flush) =="
      if run_storebench postgres "postgres://parley@127.0.0.1:$PG_PORT/storebench"; then
        outcome[postgres]=ok
      else
        outcome[postgres]=failed
        status=1
      fi
      ;;
    *)
      echo "store-run.sh: unknown store '$store' (sqlite, postgres)" >&2
      status=1
      ;;
  esac
done

# Both tables together, each under its store's header line.
echo
echo "==== summary ($(date -u +%Y-%m-%dT%H:%M:%SZ), load average now $(cut -d' ' -f1-3 /proc/loadavg)) ===="
legend=
runs=
for store in $STORES; do
  if [ "$store" = sqlite ]; then
    for fsync in $FSYNCS; do runs="$runs sqlite-$fsync"; done
  else
    runs="$runs $store"
  fi
done
for store in $runs; do
  [ -n "${outcome[$store]:-}" ] || continue
  if [ -s "$tmp/$store.out" ] && grep -q '^case ' "$tmp/$store.out"; then
    echo
    # header (3 lines), then the table: the lines from "case" up to the legend
    awk 'NR <= 3 { print; next } /^case / { on = 1 } on && /^  (append|writer):/ { exit } on' "$tmp/$store.out"
    [ "${outcome[$store]}" = ok ] || echo "  ($store: ${outcome[$store]})"
    legend=$store
  else
    echo
    echo "$store: ${outcome[$store]}"
  fi
done
if [ -n "$legend" ]; then
  echo
  awk '/^  (append|writer):/ { on = 1 } /^  load average/ { exit } on' "$tmp/$legend.out"
fi
exit "$status"
