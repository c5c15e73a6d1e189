#!/usr/bin/env bash
# Flash-sale runs with their ceilings, as docs/PERFORMANCE.md describes, and their medians.
# Each run: a fresh database with the demo catalog and a fresh server; the flash sale (5,000
# buyers over 256 connections), which measures the same run's /healthz ceiling first and the
# CPU and syncs of the sale; then the database ceiling (sqlite-loop, or pgbench with Marquee's
# 32 connections). Results go to OUT/run-N/{flash,ceiling}.json and OUT/summary.json (the
# median of each figure over the runs).
#
#   scripts/bench-flash.sh BIN_DIR sqlite|postgres OUT [RUNS=3] [poll|stream]
#
# BIN_DIR holds release builds of marquee and marquee-bench. PostgreSQL is the local server
# (fresh database marquee_bench). Run nothing else heavy meanwhile: the two cores are shared.
set -euo pipefail
bin=$(realpath "$1"); backend=$2; out=$3; runs=${4:-3}; availability=${5:-poll}
mkdir -p "$out"
port=18080
work=$(mktemp -d)
server=
cleanup() { [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }; rm -rf "$work"; }
trap cleanup EXIT

for run in $(seq 1 "$runs"); do
  dir=$out/run-$run
  mkdir -p "$dir"
  rm -f "$work"/m.db*
  extra=()
  case "$backend" in
    sqlite) url="sqlite://$work/m.db" ;;
    postgres)
      psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS marquee_bench WITH (FORCE)"
      psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE marquee_bench"
      url=postgres://postgres@127.0.0.1:5432/marquee_bench
      extra=(--postgres-url "$url") ;;
    *) echo "backend: sqlite or postgres"; exit 2 ;;
  esac
  MARQUEE_DATABASE_URL=$url MARQUEE_DATABASE_CONNECTIONS=32 MARQUEE_WRITES_PER_MINUTE_PER_IP=0 \
    MARQUEE_WRITES_PER_MINUTE_PER_USER=0 MARQUEE_LISTEN=127.0.0.1:$port MARQUEE_LOG=warn \
    "$bin/marquee" >"$dir/server.log" 2>&1 &
  server=$!
  for _ in $(seq 1 300); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.2; done
  "$bin/marquee-bench" --base "http://127.0.0.1:$port" --json "$dir/flash.json" flash-sale \
    --buyers 5000 --connections 256 --server-pid "$server" --availability "$availability" \
    --plot "$dir/flash.svg" "${extra[@]}" >"$dir/flash.txt"
  kill "$server"; wait "$server" 2>/dev/null || true; server=
  if [ "$backend" = sqlite ]; then
    "$bin/marquee-bench" --json "$dir/ceiling.json" sqlite-loop --duration-secs 10 >/dev/null
  else
    "$bin/marquee-bench" --json "$dir/ceiling.json" pgbench --clients 32 --duration-secs 10 >/dev/null
  fi
  echo "$backend run $run of $runs written to $dir"
done

python3 - "$out" "$runs" <<'EOF'
import json, statistics, sys
out, runs = sys.argv[1], int(sys.argv[2])
flash = [json.load(open(f"{out}/run-{n}/flash.json")) for n in range(1, runs + 1)]
ceiling = [json.load(open(f"{out}/run-{n}/ceiling.json")) for n in range(1, runs + 1)]
def pick(doc, path):
    for key in path.split("."):
        doc = doc.get(key) if isinstance(doc, dict) else None
    return doc
figures = ["time_to_sell_out_s", "purchases_per_s", "purchases_per_s_peak", "healthz_per_s",
           "requests_per_purchase", "http_bound_purchases_per_s", "ratio_to_http_bound",
           "latency_hold.p50_ms", "latency_hold.p99_ms", "latency_order.p50_ms", "latency_order.p99_ms",
           "costs.cpu_s_per_purchase.server", "costs.cpu_s_per_purchase.database",
           "costs.cpu_s_per_purchase.bench", "costs.syncs_per_purchase",
           "costs.postgres_wal_syncs_per_purchase", "commit_pipeline.commits_per_purchase",
           "commit_pipeline.commands_per_commit", "server_memory_mib.first", "server_memory_mib.peak"]
summary = {"runs": runs, "invariant_ok_every_run": all(f["invariant_ok"] for f in flash)}
for figure in figures:
    values = [pick(f, figure) for f in flash]
    values = [v for v in values if isinstance(v, (int, float))]
    summary[figure] = {"median": statistics.median(values), "runs": values} if values else None
ceilings = [c.get("purchases_per_s") for c in ceiling]
ceilings = [c for c in ceilings if isinstance(c, (int, float))]
if ceilings:
    summary["database_ceiling_per_s"] = {"median": statistics.median(ceilings), "runs": ceilings}
    summary["ratio_to_database_ceiling"] = round(summary["purchases_per_s"]["median"] / statistics.median(ceilings), 4)
json.dump(summary, open(f"{out}/summary.json", "w"), indent=2)
print(json.dumps(summary, indent=2))
EOF
