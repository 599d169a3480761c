#!/usr/bin/env bash
# Installs the Debian packages that the test command needs beyond the firmware's: Chromium for
# the dashboard's end-to-end test, and Maven with a JDK for the Java binding. Packages already
# present are left alone.
set -euo pipefail

PACKAGES=(chromium maven openjdk-17-jdk-headless)

missing=()
for package in "${PACKAGES[@]}"; do
  if ! dpkg -s "${package}" >/dev/null 2>&1; then
    missing+=("${package}")
  fi
done
if [ "${#missing[@]}" -eq 0 ]; then
  exit 0
fi

echo "install-test-packages: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
${sudo} apt-get update
DEBIAN_FRONTEND=noninteractive ${sudo} apt-get install -y --no-install-recommends "${missing[@]}"
