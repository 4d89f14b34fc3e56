#!/usr/bin/env bash
# The cost of reading person data over HTTP, for one or more `forlob` binaries side by side
# (e.g. the previous commit's and this one's): each serves a fresh SQLite database with the
# demo data, a caseworker of the municipality with the most persons reads
#   - the person API (GET /api/persons/{cpr}) of persons who live there, round robin, and
#   - the inbox (GET /api/tasks?limit=50), and
#   - the tasks in that inbox (GET /api/tasks/{id}: a task names its person),
# with wrk (Debian's package) for a fixed time, and the latency percentiles are printed.
# Run the binaries one after another on a quiet machine; see docs/benchmarks.md. A binary with
# `cpu_affinity` serves on one CPU by default; FORLOB_CPU_AFFINITY=off measures it spread.
#
#   scripts/bench-reads.sh target/release/forlob /work/prev/target/release/forlob
#
# Options (environment): SECONDS_EACH (default 20), CONNECTIONS (default 8),
# PERSONS (demo persons, default 3000), PORT (default 18080).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "needs wrk: apt-get install wrk" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "needs sqlite3: apt-get install sqlite3" >&2; exit 1; }
[ "$#" -ge 1 ] || { echo "usage: $0 FORLOB_BINARY [FORLOB_BINARY ...]" >&2; exit 2; }
seconds=${SECONDS_EACH:-20}
connections=${CONNECTIONS:-8}
persons=${PERSONS:-3000}
port=${PORT:-18080}
work=$(mktemp -d)
trap 'kill "${server:-0}" 2>/dev/null || true; rm -rf "$work"' EXIT

cat > "$work/rotate.lua" <<'LUA'
-- Round robin over the paths in paths.txt, one request each, with the bearer token.
local paths, i = {}, 0
for line in io.lines(os.getenv("PATHS_FILE")) do paths[#paths + 1] = line end
wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
done = function(summary, latency, requests)
  io.write(string.format("RESULT requests=%d errors=%d p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f max_ms=%.2f\n",
    summary.requests, summary.errors.status + summary.errors.connect + summary.errors.read
      + summary.errors.write + summary.errors.timeout,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000))
end
LUA

for binary in "$@"; do
  db="$work/reads-$(date +%s%N).db"
  url="sqlite://$db?mode=rwc"
  "$binary" serve --db "$url" --listen "127.0.0.1:$port" --demo-persons "$persons" \
    --demo-moves 1000 > "$work/serve.log" 2>&1 &
  server=$!
  for _ in $(seq 1 600); do
    curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
    sleep 0.5
  done
  municipality=$(sqlite3 "$db" "SELECT residence FROM dk_persons WHERE residence IS NOT NULL GROUP BY residence ORDER BY count(*) DESC LIMIT 1")
  token=$("$binary" users add "bench-reader-$$" --role caseworker --municipality "$municipality" \
    --db "$url" 2>/dev/null | tail -n 1)
  sqlite3 "$db" "SELECT '/api/persons/' || cpr FROM dk_persons WHERE residence = '$municipality'" > "$work/persons.txt"
  echo "/api/tasks?limit=50" > "$work/inbox.txt"
  curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/tasks?limit=500" |
    python3 -c 'import json, sys; [print("/api/tasks/" + t["id"]) for t in json.load(sys.stdin)["tasks"]]' \
    > "$work/tasks.txt"
  [ -s "$work/tasks.txt" ] || echo "/api/tasks?limit=1" > "$work/tasks.txt"
  for what in persons inbox tasks; do
    # A short warm-up (cold page cache, first statements prepared), then the measured run.
    PATHS_FILE="$work/$what.txt" TOKEN="$token" wrk -t1 -c2 -d2s -s "$work/rotate.lua" \
      "http://127.0.0.1:$port" > /dev/null
    result=$(PATHS_FILE="$work/$what.txt" TOKEN="$token" wrk -t2 -c"$connections" -d"${seconds}s" \
      -s "$work/rotate.lua" "http://127.0.0.1:$port" | grep '^RESULT')
    echo "$binary $what municipality=$municipality paths=$(wc -l < "$work/$what.txt") ${result#RESULT }"
  done
  if sqlite3 "$db" "SELECT 1 FROM sqlite_master WHERE name = 'audit_log'" | grep -q 1; then
    echo "$binary audit_entries=$(sqlite3 "$db" "SELECT count(*) FROM audit_log")"
  fi
  kill "$server"
  wait "$server" 2>/dev/null || true
done
