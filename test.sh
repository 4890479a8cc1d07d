#!/usr/bin/env bash
# Runs every test: formatting, unit tests, and integration tests against the real server, real ffmpeg and
# real Chromium (Debian's, driven by Playwright). Installs what the tests need when it is missing.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure-packages.sh
ensure_packages chromium firefox-esr ffmpeg libturbojpeg0 fonts-dejavu-core socat gcc linux-libc-dev curl

dotnet build Osprey.slnx -c Release -warnaserror
dotnet format Osprey.slnx --verify-no-changes --no-restore
# --blame-hang-timeout: a hung test gets a dump and fails instead of eating CI's 90 minutes.
dotnet test Osprey.slnx -c Release --no-build --blame-hang-timeout 5m --logger "console;verbosity=normal" "$@"
