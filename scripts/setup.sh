#!/usr/bin/env bash
# Installs what the project's commands need on a fresh Debian machine with Node.js, npm,
# Python and gcc: the npm packages (npm ci) and the pinned Python template linters.
# Firmware packages are installed by firmware/scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${CI:-}" = "true" ] || [ ! -d node_modules ] || ! cmp -s package-lock.json node_modules/.package-lock.json 2>/dev/null; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
fi
