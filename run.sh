#!/usr/bin/env bash
# Runs the Osprey server. With no flags: the camera at /dev/video0 when there is one, else a test pattern.
#   ./run.sh [--port 8888] [--bind 0.0.0.0] [--source NAME=URI ...]     (./run.sh --help for all)
set -euo pipefail
cd "$(dirname "$0")"
source scripts/ensure-packages.sh
# libjpeg-turbo for JPEG outputs, ffmpeg for ffmpeg sources.
ensure_packages libturbojpeg0 ffmpeg
exec dotnet run --project src/Osprey.Server -c Release -- "$@"
