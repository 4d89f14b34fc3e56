#!/usr/bin/env bash
# Runs the whole test suite: unit and integration tests (SQLite always; PostgreSQL when
# FORLOB_TEST_POSTGRES names a server), then every scenario file through `forlob test`.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -z "${FORLOB_TEST_POSTGRES:-}" ]; then
  echo "*** FORLOB_TEST_POSTGRES is not set: PostgreSQL halves of the integration tests will be SKIPPED ***"
  echo "*** e.g. export FORLOB_TEST_POSTGRES=postgres://postgres@127.0.0.1:5432/test                      ***"
fi

cargo test --workspace --all-targets
cargo run --quiet --bin forlob -- validate
cargo run --quiet --bin forlob -- test engine/demo processes
