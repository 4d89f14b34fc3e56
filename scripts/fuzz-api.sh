#!/usr/bin/env bash
# Fuzzes the REST API from its own OpenAPI document with schemathesis: starts `forlob serve` on
# a fresh SQLite database with demo data, then runs every operation as an admin and as a
# caseworker. Fails on any 5xx, on a status code or content type the document does not
# declare, and on a response that does not match its schema.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/fuzz-venv
if [ ! -x "$venv/bin/st" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet -r scripts/fuzz-requirements.txt
fi
cargo build --quiet --bin forlob
work=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
db="sqlite://$work/fuzz.db?mode=rwc"
forlob="${CARGO_TARGET_DIR:-target}/debug/forlob"
"$forlob" serve --db "$db" --listen "127.0.0.1:$port" --demo-persons 300 --demo-moves 100 \
  > "$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null || { cat "$work/serve.log"; exit 1; }
admin=$("$forlob" users add fuzz-admin --role admin --db "$db" 2>/dev/null)
caseworker=$("$forlob" users add fuzz-caseworker --role caseworker --municipality 101 --db "$db" 2>/dev/null)

status=0
for token in "$admin" "$caseworker"; do
  "$venv/bin/st" run "http://127.0.0.1:$port/api/openapi.json" \
    -H "Authorization: Bearer $token" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --max-examples "${FUZZ_EXAMPLES:-40}" --workers 2 --seed 1 \
    || status=1
done
if grep -q "panicked" "$work/serve.log"; then
  echo "the server panicked during the fuzz run:" >&2
  grep -A5 "panicked" "$work/serve.log" >&2
  status=1
fi
exit $status
