#!/usr/bin/env bash
# Runs forlob on a fresh checkout: installs the UI's browser assets from npm if they are not
# there yet, then `forlob serve` on ./forlob.db with demo data. Extra arguments go to serve.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d web/assets/node_modules ]; then
  npm ci --prefix web/assets --no-audit --no-fund
fi
exec cargo run --release -- serve "$@"
