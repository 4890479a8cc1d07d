#!/usr/bin/env bash
# Does Osprey give memory back after a load? For each configuration: a fresh trimmed single-file osprey, its RSS
# idle (5 s after start), a raw fan-out load (VIEWERS viewers of /ws/test/raw for WINDOW s), then its RSS when the
# load ends and 5, 15 and 30 s later, with the GC heap and frame-pool figures the server reports at the end.
#
# Usage: [VIEWERS=200] [WINDOW=15] [BUILD=1] bench/memory-after-load.sh [out-dir] [config ...]
#   a config is NAME or NAME:VAR=VALUE,VAR=VALUE (environment for the server), e.g.
#   bench/memory-after-load.sh artifacts/mem default conserve:DOTNET_GCConserveMemory=7
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-artifacts/memory}; shift || true
configs=("$@"); (( ${#configs[@]} )) || configs=(default)
viewers=${VIEWERS:-200}
window=${WINDOW:-15}
mkdir -p "$out"
if [[ ${BUILD:-1} == 1 ]]; then
  dotnet publish src/Osprey.Server -c Release -r linux-x64 -o artifacts/publish >/dev/null
  dotnet build bench/Osprey.LoadTest -c Release >/dev/null
fi
load=bench/Osprey.LoadTest/bin/Release/net10.0/osprey-load
port=8899
limits="--max-viewers 5000 --max-viewers-per-feed 5000 --max-connections-per-address 5000"
rss() { awk '/VmRSS/ {printf "%.1f", $2 / 1000}' "/proc/$1/status"; }

printf '| config | load avg | RSS idle | peak | end of load | +5 s | +15 s | +30 s | fps median |\n| --- | --- | --- | --- | --- | --- | --- | --- | --- |\n' | tee "$out/summary.md"
for config in "${configs[@]}"; do
  name=${config%%:*}; vars=""
  [[ $config == *:* ]] && vars=${config#*:}
  env ${vars//,/ } artifacts/publish/osprey $limits --bind 127.0.0.1 --port $port --log-level warning >"$out/$name.server.log" 2>&1 &
  pid=$!
  for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
  sleep 5
  loadavg=$(cut -d' ' -f1 /proc/loadavg); idle=$(rss $pid)
  "$load" --url ws://127.0.0.1:$port/ws/test/raw --pid $pid --viewers "$viewers" --seconds "$window" --json "$out/$name.json" --quiet >"$out/$name.txt" 2>&1 || true
  end=$(rss $pid); sleep 5; r5=$(rss $pid); sleep 10; r15=$(rss $pid); sleep 15; r30=$(rss $pid)
  curl -s "http://127.0.0.1:$port/api/feeds/test" >"$out/$name.feed.json" || true
  kill -TERM $pid; wait $pid || true
  peak=$(jq -r '.server.peakRssMegabytes' "$out/$name.json"); fps=$(jq -r '.fps.median' "$out/$name.json")
  echo "| $name${vars:+ ($vars)} | $loadavg | $idle | $peak | $end | $r5 | $r15 | $r30 | $fps |" | tee -a "$out/summary.md"
done
