#!/usr/bin/env bash
# Runs every test of the project on a fresh machine. It installs the npm packages and the Python
# linters, then runs the library build with its jest suite, the example app's template checks
# and the packed-library check.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "install npm packages"
bash scripts/setup.sh

step "library build: bundle, compile, jest, eslint, package, API.md"
npx projen build

step "example app: synthesize, cfn-lint, checkov"
npx projen synth:example
npx projen lint:templates

step "packed library in a scratch CDK app"
bash scripts/check-package.sh

step "summary"
node scripts/summarize-tests.js test-reports/junit.xml
