#!/usr/bin/env bash
# Creates .venv with the pinned template linters (cfn-lint, checkov). Debian's pip refuses
# system-wide installs, so the tools live in a virtual environment inside the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."

CFN_LINT_VERSION=1.58.0
CHECKOV_VERSION=3.3.30

if ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
  echo "python-tools: installing python3-venv"
  apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
if ! .venv/bin/cfn-lint --version 2>/dev/null | grep -q "$CFN_LINT_VERSION" \
  || ! .venv/bin/checkov --version 2>/dev/null | grep -q "$CHECKOV_VERSION"; then
  echo "python-tools: installing cfn-lint $CFN_LINT_VERSION and checkov $CHECKOV_VERSION into .venv"
  .venv/bin/pip install --quiet --disable-pip-version-check "cfn-lint==$CFN_LINT_VERSION" "checkov==$CHECKOV_VERSION"
fi
