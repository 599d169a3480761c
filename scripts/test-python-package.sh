#!/usr/bin/env bash
# Installs the Python wheel from dist/python into a virtual environment (.venv-python-test), with
# aws-cdk-lib and constructs from PyPI in the ranges of package.json's peerDependencies, and
# synthesizes a SmartHomePlatform from Python (test/python/test_synth.py). The wheel embeds the
# npm tarball, so the synthesis also proves that the tarball carries the bundled handlers.
set -euo pipefail
cd "$(dirname "$0")/.."

shopt -s nullglob
wheels=(dist/python/*.whl)
shopt -u nullglob
if [ "${#wheels[@]}" -ne 1 ]; then
  echo "test-python-package: expected one wheel in dist/python, found ${#wheels[@]}; run 'npx projen compile' and 'npx projen package:python' first" >&2
  exit 1
fi

# Turns an npm caret range (^2.270.0) into a pip requirement (>=2.270.0,<3.0.0).
pip_requirement() {
  local name=$1 range
  range=$(node -p "require('./package.json').peerDependencies['$name']")
  if [[ ! "$range" =~ ^\^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]]; then
    echo "test-python-package: peer dependency $name has range '$range'; this script converts only ^MAJOR.MINOR.PATCH" >&2
    return 1
  fi
  echo "$name>=${BASH_REMATCH[1]}.${BASH_REMATCH[2]}.${BASH_REMATCH[3]},<$((BASH_REMATCH[1] + 1)).0.0"
}
cdk_requirement=$(pip_requirement aws-cdk-lib)
constructs_requirement=$(pip_requirement constructs)

venv=.venv-python-test
if [ ! -x "$venv/bin/python" ]; then
  echo "test-python-package: creating $venv"
  python3 -m venv "$venv"
fi
echo "test-python-package: installing ${wheels[0]}, $cdk_requirement and $constructs_requirement"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$cdk_requirement" "$constructs_requirement"
# The wheel keeps version 0.0.0 between builds, so pip would keep an older build without --force-reinstall.
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --force-reinstall --no-deps "${wheels[0]}"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${wheels[0]}"
"$venv/bin/python" -m pip list --disable-pip-version-check 2>/dev/null | grep -E '^(aws-cdk-lib|constructs|jsii|cdk-smart-home) '

AWS_EC2_METADATA_DISABLED=true CDK_DISABLE_VERSION_CHECK=true "$venv/bin/python" test/python/test_synth.py
