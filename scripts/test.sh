#!/usr/bin/env bash
# Runs the whole test suite: unit and integration tests (SQLite always; PostgreSQL when
# FORLOB_TEST_POSTGRES names a server), then every scenario file through `forlob test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${FORLOB_TEST_POSTGRES:-}" ]; then
  echo "*** FORLOB_TEST_POSTGRES is not set: PostgreSQL halves of the integration tests will be SKIPPED ***"
  echo "*** e.g. export FORLOB_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test                      ***"
fi

# The browser assets the UI serves (htmx, mermaid, swagger-ui-dist, CodeMirror) and the
# workbench's editor bundled from them (scripts/assets.sh).
bash scripts/assets.sh
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  echo "*** chromium/chromedriver not found: browser tests will be SKIPPED (apt-get install chromium chromium-driver) ***"
fi

cargo test --workspace --all-targets
cargo run --quiet --bin forlob -- validate
cargo run --quiet --bin forlob -- test engine/demo processes

# The API against its own OpenAPI document (schemathesis from PyPI): no 5xx, nothing undocumented.
if python3 -m venv --help >/dev/null 2>&1; then
  bash scripts/fuzz-api.sh
elif [ "${FORLOB_REQUIRE_FUZZ:-}" = 1 ]; then
  echo "the API fuzz run needs python3 with venv" >&2
  exit 1
else
  echo "*** python3 venv not available: the API fuzz run is SKIPPED ***"
fi
