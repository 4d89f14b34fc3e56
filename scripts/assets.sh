#!/usr/bin/env bash
# The UI's browser assets from npm, pinned by web/assets/package-lock.json, installed when
# missing or when the lock changed; then the workbench's editor (web/assets/src/workbench.js,
# CodeMirror) bundled by the pinned esbuild, when missing or older than its source. Neither
# is ever committed.
set -euo pipefail
cd "$(dirname "$0")/../web/assets"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
bundle=node_modules/forlob-workbench/workbench.js
if [ ! -f "$bundle" ] || [ src/workbench.js -nt "$bundle" ] || [ package-lock.json -nt "$bundle" ]; then
  npm run build
fi
