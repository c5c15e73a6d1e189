#!/usr/bin/env bash
# The crash test: a flash sale while something is crashed at random moments, then every
# acknowledged purchase, the inventory and the payments are checked in the database (see
# crates/bench/src/crash.rs). The buyers retry every request whose answer was lost with its
# Idempotency-Key, and every acknowledged order's request is replayed at the end.
# - `marquee` is killed with SIGKILL and restarted, on SQLite (its writer thread dies mid-batch)
#   and on PostgreSQL;
# - PostgreSQL itself is stopped in immediate mode and started again while the server runs: a
#   private cluster (its own data folder and port), when run as root with PostgreSQL's server
#   binaries installed.
#
#   scripts/crash-test.sh [kills] [buyers]        # default 20 crashes, 200 buyers
#
# Builds the debug binaries (the CI short form); for the long form build with --release and set
# PROFILE=release, or give BIN_DIR (a folder with built marquee and marquee-bench). KEEP_JSON=DIR
# keeps each run's figures there. PostgreSQL comes from MARQUEE_TEST_POSTGRES_URL (its server is used for a
# fresh database `marquee_crash`); without it only SQLite runs.
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-20}
buyers=${2:-200}
profile=${PROFILE:-debug}
if [ -n "${BIN_DIR:-}" ]; then
  bin=$(realpath "$BIN_DIR")
else
  if [ "$profile" = release ]; then cargo build -q --release -p marquee -p marquee-bench; else cargo build -q -p marquee -p marquee-bench; fi
  bin=target/$profile
fi
work=$(mktemp -d)
pg=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
data=$work/pgdata
cleanup() {
  if [ -n "${KEEP_JSON:-}" ]; then cp "$work"/*.json "$KEEP_JSON"/ 2>/dev/null || true; fi
  if [ -f "$data/postmaster.pid" ]; then su postgres -c "$pg/pg_ctl -D $data -m fast stop" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

run() {
  local name=$1 url=$2
  shift 2
  echo "== crash test on $name: $kills crashes, $buyers buyers"
  if ! "$bin/marquee-bench" --json "$work/$name.json" crash-sale --marquee "$bin/marquee" \
      --database-url "$url" --kills "$kills" --buyers "$buyers" --connections 32 --server-log "$work/$name.log" "$@"; then
    echo "crash test on $name FAILED; the server's last output:"
    tail -n 40 "$work/$name.log"
    exit 1
  fi
}

run sqlite "sqlite://$work/crash.db"
if [ -n "${MARQUEE_TEST_POSTGRES_URL:-}" ]; then
  server=${MARQUEE_TEST_POSTGRES_URL%/*}
  psql "$server/postgres" -qc "DROP DATABASE IF EXISTS marquee_crash WITH (FORCE)" -c "CREATE DATABASE marquee_crash"
  run postgres "$server/marquee_crash"
  psql "$server/postgres" -qc "DROP DATABASE IF EXISTS marquee_crash WITH (FORCE)"
fi
if [ "$(id -u)" = 0 ] && [ -n "$pg" ]; then
  port=${CRASH_PG_PORT:-5440}
  chmod 755 "$work"
  install -d -o postgres "$data"
  su postgres -c "$pg/initdb -D $data -A trust -U postgres" >/dev/null
  printf "port = %s\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '/tmp'\n" "$port" >>"$data/postgresql.conf"
  start="su postgres -c '$pg/pg_ctl -D $data -l $data/log -w start' >/dev/null"
  eval "$start"
  psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE marquee_crash"
  run postgres-database-crashes "postgres://postgres@127.0.0.1:$port/marquee_crash" \
    --database-crash-command "su postgres -c '$pg/pg_ctl -D $data -m immediate stop' >/dev/null && $start"
fi
