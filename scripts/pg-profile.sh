#!/usr/bin/env bash
# The statement profile of one flash sale on PostgreSQL, as docs/PERFORMANCE.md reads it: a
# private PostgreSQL 15 (its own data folder and port, pg_stat_statements preloaded with
# track = all, autovacuum off like the machine's), a fresh database and server, 5,000 buyers
# over 256 connections; statistics are reset when the first hold exists (registration is not
# the sale). Writes OUT/{top.txt,totals.txt,purchases.txt,flash.json}.
#
#   scripts/pg-profile.sh BIN_DIR OUT [PORT=5439]
#
# BIN_DIR holds release builds of marquee and marquee-bench. Run as root (the server runs as
# the postgres user); nothing else heavy meanwhile.
set -euo pipefail
bin=$(realpath "$1"); out=$(mkdir -p "$2" && realpath "$2"); port=${3:-5439}
pg=$(ls -d /usr/lib/postgresql/15/bin)
data=$out/pgdata
psql=(psql -h 127.0.0.1 -p "$port" -U postgres)
server=
cleanup() {
  [ -n "$server" ] && { kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; }
  su postgres -c "$pg/pg_ctl -D $data -m fast stop" >/dev/null 2>&1 || true
}
trap cleanup EXIT

if [ ! -d "$data" ]; then
  install -d -o postgres "$data"
  chown postgres "$out"
  su postgres -c "$pg/initdb -D $data -A trust -U postgres" >/dev/null
  cat >>"$data/postgresql.conf" <<CONF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '/tmp'
shared_preload_libraries = 'pg_stat_statements'
pg_stat_statements.track = all
autovacuum = off
max_connections = 200
CONF
fi
su postgres -c "$pg/pg_ctl -D $data -l $data/log -w start" >/dev/null
url=postgres://postgres@127.0.0.1:$port/marquee_bench
"${psql[@]}" -qc "DROP DATABASE IF EXISTS marquee_bench WITH (FORCE)" -c "CREATE DATABASE marquee_bench"
"${psql[@]}" -d marquee_bench -qc "CREATE EXTENSION pg_stat_statements"
MARQUEE_DATABASE_URL=$url MARQUEE_DATABASE_CONNECTIONS=32 MARQUEE_WRITES_PER_MINUTE_PER_IP=0 \
  MARQUEE_WRITES_PER_MINUTE_PER_USER=0 MARQUEE_LISTEN=127.0.0.1:18090 MARQUEE_LOG=warn \
  "$bin/marquee" >"$out/server.log" 2>&1 &
server=$!
for _ in $(seq 1 300); do curl -sf http://127.0.0.1:18090/readyz >/dev/null && break; sleep 0.2; done
"$bin/marquee-bench" --base http://127.0.0.1:18090 --json "$out/flash.json" flash-sale --buyers 5000 \
  --connections 256 --server-pid "$server" --postgres-url "$url" >"$out/flash.txt" &
bench=$!
until [ "$("${psql[@]}" -d marquee_bench -Atc "SELECT count(*) FROM holds")" -gt 0 ]; do sleep 2; done
"${psql[@]}" -d marquee_bench -qc "SELECT pg_stat_statements_reset()" >/dev/null
wait "$bench"
"${psql[@]}" -d marquee_bench -Atc "SELECT count(*) FROM orders WHERE status = 'confirmed'" >"$out/purchases.txt"
# A function's time includes the statements inside it (track = all lists both).
"${psql[@]}" -d marquee_bench -c "SELECT round(total_exec_time::numeric) AS ms, calls,
    round((100 * total_exec_time / sum(total_exec_time) OVER ())::numeric, 1) AS pct,
    round((total_exec_time / calls)::numeric, 3) AS ms_per_call,
    left(regexp_replace(query, '\s+', ' ', 'g'), 150) AS query
  FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 30" >"$out/top.txt"
"${psql[@]}" -d marquee_bench -Atc "SELECT sum(calls), round(sum(total_exec_time)::numeric)
  FROM pg_stat_statements" >"$out/totals.txt"
echo "profile of $(cat "$out/purchases.txt") purchases written to $out"
