#!/usr/bin/env bash
# The web pages' end-to-end tests in headless Chromium: installs what they need (Debian's
# chromium, playwright-core from npm — no browser download), builds `marquee`, and runs
# e2e/tests/*.test.mjs against the binary's embedded pages.
#
#   scripts/e2e.sh                 # every test
#   scripts/e2e.sh tests/buy.test.mjs
#   SCREENSHOTS=1 scripts/e2e.sh   # also refreshes docs/screenshots/*.png
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "e2e: needs Debian's chromium package: sudo apt-get install -y chromium" >&2
    exit 1
  fi
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
command -v node >/dev/null || { echo "e2e: needs Node.js (apt-get install -y nodejs npm)" >&2; exit 1; }

(cd e2e && npm ci --no-audit --no-fund --loglevel=error)
cargo build -p marquee
# The embedded pages are what is tested: a MARQUEE_WEB_DIR left in the environment would
# serve the working tree instead.
unset MARQUEE_WEB_DIR
export MARQUEE_BIN="$PWD/target/debug/marquee"
mkdir -p docs/screenshots
cd e2e
if [ "$#" -gt 0 ]; then
  exec node --test --test-concurrency=1 --test-timeout=180000 "$@"
fi
exec npm test
