#!/usr/bin/env bash
# Reproduces the fan-out figures in docs/benchmarks.md: for each case, a fresh trimmed single-file osprey
# (what ships) on loopback, then osprey-load measuring it.  Usage: bench/run-load.sh [out-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-artifacts/load}
mkdir -p "$out"
dotnet publish src/Osprey.Server -c Release -r linux-x64 -o artifacts/publish >/dev/null
dotnet build bench/Osprey.LoadTest -c Release >/dev/null
load=bench/Osprey.LoadTest/bin/Release/net10.0/osprey-load
port=8899

run_case() { # name, then osprey-load arguments (--url defaults to the raw feed)
  local name=$1; shift
  artifacts/publish/osprey --bind 127.0.0.1 --port $port --log-level warning >"$out/$name.server.log" 2>&1 &
  local pid=$!
  sleep 2
  local url=ws://127.0.0.1:$port/ws/test/raw
  if [[ "${1:-}" == --url ]]; then url=${2//PORT/$port}; shift 2; fi
  "$load" --url "$url" --pid $pid --json "$out/$name.json" --quiet "$@" >"$out/$name.txt" 2>&1 || true
  curl -s "http://127.0.0.1:$port/api/feeds/test" >"$out/$name.feed.json" || true
  kill -TERM $pid; wait $pid || true
  echo "== $name ($*)"; grep -E "fps per viewer|latency ms|skipped/torn|server pid|stalled viewer|frames " "$out/$name.txt"
  grep -o '"jpeg":{[^}]*}' "$out/$name.feed.json" || true
}

cases=${CASES:-raw jpeg}
if [[ " $cases " == *" raw "* ]]; then

run_case v1 --viewers 1 --seconds 20
run_case v10 --viewers 10 --seconds 20
run_case v50 --viewers 50 --seconds 20
run_case v200 --viewers 200 --seconds 20
run_case v50-stalled --viewers 50 --stalled 1 --seconds 20
fi

if [[ " $cases " == *" jpeg "* ]]; then
run_case jpeg-ws1 --url ws://127.0.0.1:PORT/ws/test/jpeg --viewers 1 --seconds 20
run_case jpeg-ws500 --url ws://127.0.0.1:PORT/ws/test/jpeg --viewers 500 --seconds 20
run_case mjpeg500 --url http://127.0.0.1:PORT/mjpeg/test --viewers 500 --seconds 20
fi
