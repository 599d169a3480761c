#!/usr/bin/env bash
# Runs every test of the project on a fresh machine. It installs npm packages, Debian packages
# and the Python linters. Then it runs the firmware host tests and fuzzing, the library build
# with its jest suite and the virtual ESP32 test. Last come the example app's template checks,
# the end-to-end tests through the local sandbox, the Python, Java and Go bindings with a
# synthesis from Python, the packed-library check and the firmware size build.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "install npm packages"
bash scripts/setup.sh

step "install Debian packages for the browser and Java binding tests"
bash scripts/install-test-packages.sh

step "firmware host build, unit tests and fuzzing"
npx projen firmware:test

step "library build: bundle, compile, jest, eslint, package, API.md"
npx projen build

step "virtual ESP32 against a local TLS MQTT broker"
JEST_JUNIT_OUTPUT_NAME=device-junit.xml npx projen test:device

step "example app: synthesize, cfn-lint, checkov"
npx projen synth:example
npx projen lint:templates

step "end-to-end through the local sandbox: the demo story, isolation, delivery guarantees, the dashboard in Chromium"
JEST_JUNIT_OUTPUT_NAME=e2e-junit.xml npx projen test:e2e

step "jsii bindings for Python, Java and Go, and a synthesis from Python"
# With CI=true, projen build packages JavaScript only.
npx projen package:python
npx projen package:java
npx projen package:go
npx projen test:python-package

step "packed library in a scratch CDK app"
bash scripts/check-package.sh

step "firmware size for rv32imc"
npx projen firmware:size

step "summary"
node scripts/summarize-tests.js test-reports/junit.xml test-reports/device-junit.xml test-reports/e2e-junit.xml
