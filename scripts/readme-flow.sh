#!/usr/bin/env bash
# Runs the README's API walk-through, exactly as printed, against a fresh Marquee on SQLite.
# Usage: scripts/readme-flow.sh [path/to/marquee-binary]
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-target/debug/marquee}
workdir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
export BASE="http://127.0.0.1:$port"

MARQUEE_LISTEN="127.0.0.1:$port" MARQUEE_DATABASE_URL="sqlite://$workdir/marquee.db" "$binary" >"$workdir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$workdir"' EXIT

for _ in $(seq 1 120); do
  curl -sf "$BASE/healthz" >/dev/null 2>&1 && break
  kill -0 $server 2>/dev/null || { cat "$workdir/server.log"; exit 1; }
  sleep 0.5
done

# The bash block between the flow markers of README.md.
flow=$(awk '/<!-- flow:start -->/{on=1; next} /<!-- flow:end -->/{on=0} on' README.md | sed '/^```/d')
bash -euo pipefail -c "$flow"
echo "README walk-through: ok"
