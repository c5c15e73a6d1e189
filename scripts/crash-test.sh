#!/usr/bin/env bash
# The crash test on both backends: a flash sale while `marquee` is killed with SIGKILL at
# random moments (and restarted), then every acknowledged purchase, the inventory and the
# payments are checked in the database (see crates/bench/src/crash.rs).
#
#   scripts/crash-test.sh [kills] [buyers]        # default 20 kills, 200 buyers
#
# Builds the debug binaries (the CI short form); for the long form build with --release and set
# PROFILE=release. PostgreSQL comes from MARQUEE_TEST_POSTGRES_URL (its server is used for a
# fresh database `marquee_crash`); without it only SQLite runs.
set -euo pipefail
cd "$(dirname "$0")/.."
kills=${1:-20}
buyers=${2:-200}
profile=${PROFILE:-debug}
if [ "$profile" = release ]; then cargo build -q --release -p marquee -p marquee-bench; else cargo build -q -p marquee -p marquee-bench; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() {
  local name=$1 url=$2
  echo "== crash test on $name: $kills kills, $buyers buyers"
  if ! "target/$profile/marquee-bench" --json "$work/$name.json" crash-sale --marquee "target/$profile/marquee" \
      --database-url "$url" --kills "$kills" --buyers "$buyers" --connections 32 --server-log "$work/$name.log"; then
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
