#!/usr/bin/env bash
# Runs every test: formatting, unit tests, and integration tests against the real server, real ffmpeg and
# real Chromium (Debian's, driven by Playwright). Installs what the tests need when it is missing.
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure-packages.sh
# The arm64 ones (multiarch) cross-compile the Raspberry Pi build (clang, binutils, libc, libgcc) and run it under
# qemu-user (libc, libturbojpeg, OpenSSL).
ensure_architecture arm64
ensure_packages chromium firefox-esr ffmpeg libturbojpeg0 fonts-dejavu-core socat gcc linux-libc-dev curl \
  clang binutils-aarch64-linux-gnu libc6-dev:arm64 libgcc-12-dev:arm64 qemu-user-static libturbojpeg0:arm64 libssl3:arm64 nginx

dotnet build Osprey.slnx -c Release -warnaserror
dotnet format Osprey.slnx --verify-no-changes --no-restore
# The release executables (Native AOT, linux-x64 and the Raspberry Pi's linux-arm64) that ReleaseBuildTests run:
# made here once, reused while the sources stay the same (a Native AOT publish takes minutes).
scripts/publish.sh --cached linux-x64 >/dev/null
scripts/publish.sh --cached linux-arm64 >/dev/null
# --blame-hang-timeout: a hung test gets a dump and fails instead of eating CI's 90 minutes.
# Tests marked [Trait("Run", "Apart")] (load runs, and ones under investigation) run only when asked for:
# OSPREY_TEST_FILTER=Run=Apart ./test.sh
# The log is kept and, when a test fails, its name and message are repeated last: CI shows only the end of the output.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
dotnet test Osprey.slnx -c Release --no-build --blame-hang-timeout 5m --logger "console;verbosity=normal" --filter "${OSPREY_TEST_FILTER:-Run!=Apart}" "$@" 2>&1 | tee "$log" || status=$?
if [ "$status" -ne 0 ]; then
  echo
  echo "=== failed tests (repeated from above) ==="
  awk '/^  Failed /{show=40} show>0{print; show--}' "$log" | cut -c1-400 | head -n 200
  grep -E '^(Test Run|Total tests:|[[:space:]]+(Passed|Failed|Skipped):)' "$log" || true
fi
exit "$status"
