#!/usr/bin/env bash
# Runs the README's walk-throughs (the API flow, the box-office flow, refund/resale/door), exactly as
# printed, against a fresh Marquee on SQLite.
# Usage: scripts/readme-flow.sh [path/to/marquee-binary]
set -euo pipefail
cd "$(dirname "$0")/.."
binary=$(realpath "${1:-target/debug/marquee}")
workdir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
export BASE="http://127.0.0.1:$port"
export MARQUEE="$binary"
export MARQUEE_DATABASE_URL="sqlite://$workdir/marquee.db"

MARQUEE_LISTEN="127.0.0.1:$port" "$binary" >"$workdir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$workdir"' EXIT

for _ in $(seq 1 120); do
  curl -sf "$BASE/healthz" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { cat "$workdir/server.log"; exit 1; }
  sleep 0.5
done

for name in flow admin-flow tickets-flow; do
  # The bash block between the markers of README.md.
  block=$(awk -v start="<!-- $name:start -->" -v end="<!-- $name:end -->" \
    '$0 == start {on=1; next} $0 == end {on=0} on' README.md | sed '/^```/d')
  [ -n "$block" ] || { echo "README has no $name block"; exit 1; }
  bash -euo pipefail -c "$block"
  echo "README $name: ok"
done
