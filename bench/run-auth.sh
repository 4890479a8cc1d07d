#!/usr/bin/env bash
# Fan-out with authentication off and on (docs/benchmarks.md, "Authentication on and off"): the same trimmed osprey
# and osprey-load cases, once with the open default and once with a user and a read token configured, the viewers
# presenting the token in ?token= (checked once, at the upgrade). The two configurations are interleaved, REPS times
# each, so that a busy machine slows both alike; the medians go in the doc with the load average at the time.
# Usage: [REPS=3] [SECONDS_PER_RUN=20] bench/run-auth.sh [out-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-artifacts/auth}
reps=${REPS:-3}
seconds=${SECONDS_PER_RUN:-20}
mkdir -p "$out"
if [[ -z "${SKIP_BUILD:-}" ]]; then
  dotnet publish src/Osprey.Server -c Release -r linux-x64 -o artifacts/publish >/dev/null
  dotnet build bench/Osprey.LoadTest -c Release >/dev/null
fi
load=bench/Osprey.LoadTest/bin/Release/net10.0/osprey-load
port=8897
limits="--max-viewers 5000 --max-viewers-per-feed 5000 --max-connections-per-address 5000"
token=bench-read-token-0123456789
auth="--user ops:ops-pass:all --token $token:read"

run() { # name, auth on|off, then osprey-load arguments with PATH in the URL
  local name=$1 mode=$2 url=$3; shift 3
  local flags="" query=""
  if [[ $mode == on ]]; then flags=$auth; query="?token=$token"; fi
  # shellcheck disable=SC2086
  artifacts/publish/osprey $limits $flags --bind 127.0.0.1 --port $port --log-level warning >"$out/$name.server.log" 2>&1 &
  local pid=$!
  # Started when it says so (a busy machine can take seconds), then a moment for the source's first frames.
  for _ in $(seq 1 120); do grep -q "Osprey listening" "$out/$name.server.log" && break; sleep 0.5; done
  sleep 1
  local load_avg; load_avg=$(cut -d' ' -f1 /proc/loadavg)
  "$load" --url "${url//PORT/$port}$query" --pid $pid --json "$out/$name.json" --quiet "$@" >"$out/$name.txt" 2>&1 || true
  kill -TERM $pid; wait $pid || true
  python3 - "$out/$name.json" "$name" "$mode" "$load_avg" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
s = r.get("server") or {}
lat = r["latency"]
print(f'{sys.argv[2]}\t{sys.argv[3]}\tload {sys.argv[4]}\tviewers {r["viewersConnected"]}/{r["viewersRequested"]}\t'
      f'fps min/median {r["fps"]["min"]:.2f}/{r["fps"]["median"]:.2f}\tp50/p99 {lat.get("p50Ms") or 0:.2f}/{lat.get("p99Ms") or 0:.2f} ms\t'
      f'cpu {s.get("cpuSeconds") or 0:.2f} s\tcpu/GB {s.get("cpuSecondsPerGigabyte") or 0:.3f}\trss {s.get("peakRssMegabytes") or 0:.1f} MB')
EOF
}

{
  echo "# commit $(git rev-parse --short HEAD), $(date -u +%FT%TZ), $(nproc) cores"
  for rep in $(seq 1 "$reps"); do
    for mode in off on; do
      run "raw50-$mode-$rep" $mode "ws://127.0.0.1:PORT/ws/test/raw" --viewers 50 --seconds "$seconds"
      run "jpeg200-$mode-$rep" $mode "ws://127.0.0.1:PORT/ws/test/jpeg" --viewers 200 --seconds "$seconds"
      run "mjpeg200-$mode-$rep" $mode "http://127.0.0.1:PORT/mjpeg/test" --viewers 200 --seconds "$seconds"
    done
  done
} | tee "$out/results.tsv"
