#!/usr/bin/env bash
# The main job: installs what it needs, builds the virtual ESP32 (the firmware's host build),
# bundles the handlers, synthesizes the example app, then runs the dev stage in the local
# sandbox and plays the end-to-end story. Arguments go to `smart-home-sandbox demo`
# (for example --json report.json). Exits non-zero unless every step passed.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
SH_FUZZ_SECONDS=0 bash firmware/scripts/test.sh >/dev/null
npx projen bundle >/dev/null
npx projen synth:example
node scripts/summarize-assembly.js examples/app/cdk.out
node sandbox/bin/smart-home-sandbox.js demo --assembly examples/app/cdk.out --stage dev "$@"
