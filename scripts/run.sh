#!/usr/bin/env bash
# Runs forlob on a fresh checkout: installs the UI's browser assets from npm if they are not
# there yet, then `forlob serve` on ./forlob.db with demo data. Extra arguments go to serve.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/assets.sh
exec cargo run --release -- serve "$@"
