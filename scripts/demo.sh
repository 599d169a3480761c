#!/usr/bin/env bash
# The main job: bundles the handlers, synthesizes the example app (dev and prod) with no AWS
# account, and prints what each stage would deploy.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
npx projen bundle >/dev/null
npx projen synth:example
node scripts/summarize-assembly.js examples/app/cdk.out
