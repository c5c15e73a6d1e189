#!/usr/bin/env bash
# The traced proof that no hold or purchase is acknowledged before its batch is durable, on
# both backends. A SIGKILL cannot show it (the page cache survives), so the kernel's view is
# read instead: a short flash sale of a small showtime runs with `strace -ff -ttt -T` on the
# server (its sockets; on SQLite its syncs too) and, on PostgreSQL, on every process of a
# private cluster (their syncs). `marquee-bench sync-trace` then checks that every 2xx answer
# to a hold, an order or a seed-API purchase was written after a sync that began after the
# request was read had returned (crates/bench/src/synctrace.rs).
#
#   scripts/trace-sync.sh [buyers] [connections]     # default 40 buyers on 1 connection
#
# One connection keeps the check sharp: an answer sent before its own batch's sync could only
# pass if an unrelated sync (another request's batch, a capture mark) fell into its window;
# `answered_with_one_sync_in_window` counts the answers whose window held only their own. Needs strace; PostgreSQL's
# part needs root and PostgreSQL's server binaries (it is skipped otherwise). BIN_DIR: a
# folder with built marquee and marquee-bench (default: a debug build). KEEP=DIR keeps the
# traces and figures there.
set -euo pipefail
cd "$(dirname "$0")/.."
buyers=${1:-40}
connections=${2:-1}
command -v strace >/dev/null || { echo "trace-sync: strace is not installed"; exit 2; }
if [ -n "${BIN_DIR:-}" ]; then bin=$(realpath "$BIN_DIR"); else cargo build -q -p marquee -p marquee-bench; bin=target/debug; fi
work=$(mktemp -d)
chmod 755 "$work"
port=${TRACE_PORT:-18090}
pg=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
data=$work/pgdata
server=
tracer=
# `server` is the strace running marquee: stopping marquee (its child) ends it.
stop_server() { pkill -TERM -P "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; server=; }
cleanup() {
  [ -n "$server" ] && stop_server
  [ -n "$tracer" ] && { kill "$tracer" 2>/dev/null || true; wait "$tracer" 2>/dev/null || true; }
  if [ -f "$data/postmaster.pid" ]; then su postgres -c "$pg/pg_ctl -D $data -m fast stop" >/dev/null 2>&1 || true; fi
  if [ -n "${KEEP:-}" ]; then mkdir -p "$KEEP" && cp -r "$work"/traces-* "$work"/*.json "$KEEP"/ 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
calls=read,readv,recvfrom,recvmsg,write,writev,sendto,sendmsg,fsync,fdatasync

# Runs the sale on one backend: the server under strace, the smallest showtime sold out.
sale() {
  local name=$1 url=$2
  mkdir -p "$work/traces-$name"
  MARQUEE_DATABASE_URL=$url MARQUEE_WRITES_PER_MINUTE_PER_IP=0 MARQUEE_WRITES_PER_MINUTE_PER_USER=0 \
    MARQUEE_LISTEN=127.0.0.1:$port MARQUEE_LOG=warn \
    strace -ff -ttt -T -y -s 64 -e trace=$calls -e signal=none -o "$work/traces-$name/server" \
    "$bin/marquee" >"$work/$name.log" 2>&1 &
  server=$!
  for _ in $(seq 1 600); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
  curl -sf "http://127.0.0.1:$port/readyz" >/dev/null || { echo "the server did not start:"; tail -n 20 "$work/$name.log"; exit 1; }
  local showtime
  showtime=$(curl -sf "http://127.0.0.1:$port/api/v1/showtimes?limit=100" |
    jq -r '[.items[] | select(.seats_available > 0)] | min_by(.seats_available) | .id')
  echo "== $name: $buyers buyers on $connections connections buy showtime $showtime, traced"
  "$bin/marquee-bench" --base "http://127.0.0.1:$port" --json "$work/$name-sale.json" flash-sale \
    --showtime "$showtime" --buyers "$buyers" --connections "$connections" --http-ceiling-secs 0 \
    >"$work/$name-sale.txt"
  jq -c '{purchases, sold: .invariant.sold, invariant_ok}' "$work/$name-sale.json"
  stop_server
}

check() {
  local name=$1
  shift
  if ! "$bin/marquee-bench" --json "$work/$name-trace.json" sync-trace "$@" >/dev/null; then
    echo "trace-sync on $name FAILED:"; jq . "$work/$name-trace.json"; exit 1
  fi
  jq -c '{ok, acknowledged_writes, syncs, answered_before_any_sync, answered_with_one_sync_in_window, ms_from_sync_return_to_answer}' "$work/$name-trace.json"
}

sale sqlite "sqlite://$work/trace.db"
check sqlite "$work/traces-sqlite"

if [ "$(id -u)" = 0 ] && [ -n "$pg" ]; then
  pgport=${TRACE_PG_PORT:-5441}
  install -d -o postgres "$data"
  su postgres -c "$pg/initdb -D $data -A trust -U postgres" >/dev/null
  printf "port = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '/tmp'\n" "$pgport" >>"$data/postgresql.conf"
  su postgres -c "$pg/pg_ctl -D $data -l $data/log -w start" >/dev/null
  psql -h 127.0.0.1 -p "$pgport" -U postgres -qc "CREATE DATABASE marquee_trace"
  # Every process of the cluster (the WAL writer and checkpointer included, which may do a
  # commit's sync), and every backend it starts from now on.
  postmaster=$(head -n 1 "$data/postmaster.pid")
  attach=(-p "$postmaster")
  for child in $(pgrep -P "$postmaster"); do attach+=(-p "$child"); done
  mkdir -p "$work/traces-postgres"
  strace -ff -ttt -T -y -e trace=fsync,fdatasync -e signal=none -o "$work/traces-postgres/postgres" "${attach[@]}" 2>/dev/null &
  tracer=$!
  sleep 1
  sale postgres "postgres://postgres@127.0.0.1:$pgport/marquee_trace"
  kill "$tracer"; wait "$tracer" 2>/dev/null || true; tracer=
  check postgres "$work/traces-postgres"
else
  echo "(PostgreSQL's part skipped: it needs root and PostgreSQL's server binaries)"
fi
