#!/usr/bin/env bash
# Fuzzes the HTTP API from its own OpenAPI document with schemathesis, and every path and query
# parameter with raw bytes (scripts/fuzz-raw.py), against a fresh Marquee with the demo catalog
# (on SQLite, or on FUZZ_DATABASE_URL: an empty PostgreSQL database), as a
# logged-in customer. Fails on any 5xx, any response that
# does not match the documented schema, status or content type, any request the document
# says is valid that is refused all the same (positive_data_acceptance; the few refusals no
# schema can foresee are listed, with their reasons, in scripts/fuzz-hooks.py), and on any
# secured operation that answers anything but 401 without a token.
# Budget: about 3 minutes on 2 cores once the binary is built.
# Needs: schemathesis (pip install schemathesis), curl, jq.
# Usage: [FUZZ_DATABASE_URL=postgres://…] scripts/fuzz-api.sh [path/to/marquee-binary]
#   FUZZ_MAX_EXAMPLES (default 25) test cases per operation and phase; FUZZ_SEED to replay a run.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v schemathesis >/dev/null || { echo "schemathesis is missing: pip install schemathesis"; exit 1; }
if [ $# -ge 1 ]; then
  binary=$(realpath "$1")
else
  cargo build -q -p marquee
  binary=$(realpath target/debug/marquee)
fi
workdir=$(mktemp -d)
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE="http://127.0.0.1:$port"
DB_URL=${FUZZ_DATABASE_URL:-sqlite://$workdir/marquee.db}

# The fuzzer is one client sending thousands of writes: no rate limits for it. Holds may take
# as many tickets as the document allows (100): the document states the bound no configuration
# may exceed, as it cannot know the configured one (10 by default).
MARQUEE_DATABASE_URL="$DB_URL" MARQUEE_LISTEN="127.0.0.1:$port" \
  MARQUEE_DEMO_IF_EMPTY=true MARQUEE_WRITES_PER_MINUTE_PER_IP=0 MARQUEE_WRITES_PER_MINUTE_PER_USER=0 \
  MARQUEE_MAX_TICKETS_PER_HOLD=100 MARQUEE_LOG=warn "$binary" >"$workdir/server.log" 2>&1 &
server=$!
cleanup() {
  kill "$server" 2>/dev/null || true
  wait "$server" 2>/dev/null || true
  rm -rf "$workdir"
}
trap cleanup EXIT

for _ in $(seq 1 240); do
  curl -sf "$BASE/healthz" >/dev/null 2>&1 && break
  kill -0 "$server" 2>/dev/null || { cat "$workdir/server.log"; exit 1; }
  sleep 0.5
done
curl -sf "$BASE/healthz" >/dev/null

TOKEN=$(curl -sS --fail-with-body -X POST "$BASE/api/v1/auth/register" -H 'content-type: application/json' \
  -d '{"email": "fuzzer@example.com", "password": "correct horse battery"}' | jq -r .token)
curl -sS --fail-with-body "$BASE/openapi.json" >"$workdir/openapi.json"
# The admin of step 4 logs in now: the customer's fuzzing fails many logins from this address,
# and the login throttle would then make any login from it wait (429).
printf 'a long fuzzing password\n' | MARQUEE_DATABASE_URL="$DB_URL" MARQUEE_LOG=warn \
  "$binary" admin create --email fuzz-admin@example.com >/dev/null
ADMIN=$(curl -sS --fail-with-body -X POST "$BASE/api/v1/auth/login" -H 'content-type: application/json' \
  -d '{"email": "fuzz-admin@example.com", "password": "a long fuzzing password"}' | jq -r .token)

# 1. No auth bypass: every operation the document marks as secured answers 401 without a token
#    (and with a token that is not one), whatever the path parameters. Operations whose security
#    includes the empty requirement `{}` (anonymous allowed, e.g. /metrics from loopback) are not
#    secured by a session and are left to their own tests.
echo "==> secured operations without a token"
failures=0
while read -r method path; do
  url="$BASE$(echo "$path" | sed -E 's/\{[^}]+\}/x_0000/g')"
  for auth in "" "authorization: Bearer not-a-token"; do
    status=$(curl -s -o /dev/null -w '%{http_code}' -X "$method" "$url" ${auth:+-H "$auth"} \
      -H 'content-type: application/json' -d '{}')
    if [ "$status" != 401 ]; then
      echo "FAIL: $method $path answered $status ${auth:+(bad token) }instead of 401"
      failures=$((failures + 1))
    fi
  done
done < <(jq -r '.paths | to_entries[] | .key as $path | .value | to_entries[]
  | select((.value.security // []) | length > 0 and (map(length == 0) | any | not))
  | "\(.key | ascii_upcase) \($path)"' "$workdir/openapi.json")
[ "$failures" -eq 0 ] || { echo "$failures secured operations answered without a valid token"; exit 1; }
echo "all secured operations answer 401 without a valid token"

# 2. Raw bytes in every path and query parameter (schemathesis sends schema-shaped values).
echo "==> raw bytes in path and query parameters"
python3 scripts/fuzz-raw.py "$BASE" "$workdir/openapi.json" "$TOKEN" ||
  { echo "server log (last lines):"; tail -n 40 "$workdir/server.log"; exit 1; }

# 3. Schemathesis, as the registered customer. Left out here: login and logout (a login that
#    presents a token ends that token's session, and the fuzzer's registrations give it
#    accounts to log in with: it would end its own session) and the live stream (an endless
#    Server-Sent Events response; its status and first event are tested in crates/api).
#    Valid requests must be accepted: positive_data_acceptance (refused with a status other than
#    2xx, 3xx, 401, 403, 404, 409 or 429), less the refusals scripts/fuzz-hooks.py lists.
checks=not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance
checks=$checks,positive_data_acceptance
hooks=$(realpath scripts/fuzz-hooks.py)
fuzz() { # fuzz CHECKS [schemathesis options]
  local run_checks=$1
  shift
  # From the work folder: schemathesis keeps a cache in the current folder.
  (cd "$workdir" && SCHEMATHESIS_HOOKS="$hooks" schemathesis run "$workdir/openapi.json" \
    --url "$BASE" --checks "$run_checks" --phases examples,coverage,fuzzing \
    --max-examples "${FUZZ_MAX_EXAMPLES:-25}" ${FUZZ_SEED:+--seed "$FUZZ_SEED"} --workers 2 --request-timeout 10 \
    --generation-database none --no-color "$@") ||
    { status=$?; echo "server log (last lines):"; tail -n 40 "$workdir/server.log"; exit "$status"; }
}
echo "==> schemathesis, logged in"
fuzz "$checks,ignored_auth" --header "Authorization: Bearer $TOKEN" --max-time 100 \
  --exclude-path /api/v1/auth/login --exclude-path /api/v1/auth/logout \
  --exclude-path '/api/v1/showtimes/{showtime_id}/stream'
curl -sf "$BASE/api/v1/me" -H "Authorization: Bearer $TOKEN" >/dev/null ||
  { echo "the fuzzer's session ended during the run: its results are not trustworthy"; exit 1; }
# 4. The box office, as an admin (as the customer above it only met 403s).
echo "==> raw bytes in path and query parameters, admin"
python3 scripts/fuzz-raw.py "$BASE" "$workdir/openapi.json" "$ADMIN" ||
  { echo "server log (last lines):"; tail -n 40 "$workdir/server.log"; exit 1; }
echo "==> schemathesis, admin"
fuzz "$checks,ignored_auth" --header "Authorization: Bearer $ADMIN" --max-time 45 \
  --include-path-regex '^/api/v1/admin/'
# 5. The account routes, anonymously.
echo "==> schemathesis, accounts"
fuzz "$checks" --include-path-regex '^/api/v1/auth/' --max-time 20
echo "fuzzing found nothing"
