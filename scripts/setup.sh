#!/usr/bin/env bash
# Installs the npm packages (npm ci) on a fresh Debian machine with Node.js, npm, Python and gcc,
# and again whenever package-lock.json has changed since the last install. The Python template
# linters are installed by scripts/python-tools.sh (run by `npm run lint:templates`), and the
# firmware's Debian packages by firmware/scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp=node_modules/.setup-package-lock.sha256
wanted=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ "${CI:-}" = "true" ] || [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund
  echo "$wanted" > "$stamp"
fi
