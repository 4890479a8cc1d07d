#!/usr/bin/env bash
# Osprey and the Node.js `ws` relay (../shared/peers/node-relay) measured in one run by the same load client:
# raw 640x480 YUYV frames at 30 fps (614,400 bytes each) to N WebSocket viewers, interleaved A/B (the order
# alternates every repetition), several repetitions, then medians and the ratio Osprey / relay of server CPU per
# GB delivered, delivered fps and latency p99.
#
# Usage: [REPS=5] [VIEWERS="50 200"] [WINDOW=20] [WARMUP=2] [SETTLE=5] [BUILD=1] [OSPREY_ENV="K=V ..."]
#        bench/side-by-side.sh [out-dir (default artifacts/side-by-side)]
#
# Osprey: the trimmed single-file build (what ships), its default test-pattern feed /ws/test/raw (the pattern is
# drawn in the server: 12 us a frame, 0.4 ms of CPU a second, included in its figures).
# Relay: relay.js in frame mode (its ingest reassembles the producer's HTTP POST into whole frames: one copy per
# frame, included in its figures) fed by producer.js (a separate process, not counted: it stands for the camera).
# Both send the same 32-byte FOUT probe header, so osprey-load measures latency alike. The relay's frames do not
# end with the counter Osprey's test pattern repeats in its last 4 bytes, so "torn" is meaningless for the relay.
# The machine's load average (uptime) is recorded before and after every case: other work on the same cores
# shows there, and a run taken under load should be repeated.
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-artifacts/side-by-side}
reps=${REPS:-5}
viewers_list=${VIEWERS:-50 200}
window=${WINDOW:-20}
warmup=${WARMUP:-2}
settle=${SETTLE:-5}
mkdir -p "$out"
if [[ ${BUILD:-1} == 1 ]]; then
  dotnet publish src/Osprey.Server -c Release -r linux-x64 -o artifacts/publish >/dev/null
  dotnet build bench/Osprey.LoadTest -c Release >/dev/null
fi
load=bench/Osprey.LoadTest/bin/Release/net10.0/osprey-load
port=8899 ws_port=8082 ingest_port=8081

# The relay peer, copied out of the read-only shared folder with its one dependency (ws, from npm).
relay_dir=artifacts/node-relay
peer=../shared/peers/node-relay
if [[ ! -d $relay_dir/node_modules/ws ]]; then
  mkdir -p "$relay_dir"
  cp "$peer"/relay.js "$peer"/producer.js "$peer"/package.json "$relay_dir"/
  chmod u+w "$relay_dir"/*
  (cd "$relay_dir" && npm install --no-audit --no-fund >/dev/null)
fi

limits="--max-viewers 5000 --max-viewers-per-feed 5000 --max-connections-per-address 5000"
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
# Waits (at most 60 s: start-up is slow when other work loads the machine) until the port accepts, then 1 s more.
wait_port() {
  for _ in $(seq 1 600); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && { sleep 1; return 0; }; sleep 0.1; done
  echo "port $1 never opened" >&2; return 1
}

# Writes $out/$name.json (the load tool's report) and $out/$name.meta (load averages, RSS before and after).
measure() { # name server-pid url viewers
  local name=$1 pid=$2 url=$3 viewers=$4
  local before_load; before_load=$(loadavg)
  local rss0; rss0=$(rss_kb "$pid")
  "$load" --url "$url" --pid "$pid" --viewers "$viewers" --seconds "$window" --warmup "$warmup" \
      --json "$out/$name.json" --quiet >"$out/$name.txt" 2>&1 || true
  local t0; t0=$(cpu_ticks "$pid")
  sleep "$settle"
  local idle_ticks=$(( $(cpu_ticks "$pid") - t0 ))
  printf '{"loadBefore":"%s","loadAfter":"%s","rssBeforeKb":%s,"rssAfterKb":%s,"settleSeconds":%s,"idleTicksAfter":%s}\n' \
      "$before_load" "$(loadavg)" "$rss0" "$(rss_kb "$pid")" "$settle" "$idle_ticks" >"$out/$name.meta"
  echo "== $name (load $before_load): $(grep -E 'fps per viewer' "$out/$name.txt" | tr -s ' ')"
  grep -E 'latency ms|server pid' "$out/$name.txt" | tr -s ' '
}

run_osprey() { # viewers rep
  local name=osprey-v$1-r$2
  env ${OSPREY_ENV:-} artifacts/publish/osprey $limits --bind 127.0.0.1 --port $port --log-level warning >"$out/$name.server.log" 2>&1 &
  local pid=$!
  wait_port $port
  measure "$name" $pid "ws://127.0.0.1:$port/ws/test/raw" "$1"
  kill -TERM $pid; wait $pid || true
}

run_relay() { # viewers rep
  local name=relay-v$1-r$2
  node "$relay_dir/relay.js" --secret secret --stream-port $ingest_port --ws-port $ws_port --frame-bytes 614400 --quiet >"$out/$name.server.log" 2>&1 &
  local pid=$!
  wait_port $ingest_port
  node "$relay_dir/producer.js" --url "http://127.0.0.1:$ingest_port/secret" --fps 30 >"$out/$name.producer.log" 2>&1 &
  local producer=$!
  wait_port $ws_port
  measure "$name" $pid "ws://127.0.0.1:$ws_port/" "$1"
  kill -TERM $producer; wait $producer || true
  kill -TERM $pid; wait $pid || true
}

echo "commit $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (modified)'), $(nproc) cores, node $(node --version), OSPREY_ENV='${OSPREY_ENV:-}'" | tee "$out/run.txt"
for rep in $(seq 1 "$reps"); do
  for v in $viewers_list; do
    if (( rep % 2 == 1 )); then run_osprey "$v" "$rep"; run_relay "$v" "$rep"
    else run_relay "$v" "$rep"; run_osprey "$v" "$rep"; fi
  done
done

python3 - "$out" $viewers_list <<'EOF' | tee -a "$out/run.txt"
import json, sys, glob, statistics, os
out, viewers = sys.argv[1], sys.argv[2:]
def load(server, v):
    runs = []
    for path in sorted(glob.glob(f"{out}/{server}-v{v}-r*.json")):
        r = json.load(open(path)); meta = json.load(open(path[:-5] + ".meta"))
        s = r.get("server") or {}
        runs.append(dict(cpu_gb=s.get("cpuSecondsPerGigabyte"), cpu=s.get("cpuSeconds"), fps=r["fps"]["median"],
                         fps_min=r["fps"]["min"], p99=r["latency"]["p99Ms"], p50=r["latency"]["p50Ms"],
                         rss=s.get("peakRssMegabytes"), rss0=meta["rssBeforeKb"] / 1000, rss1=meta["rssAfterKb"] / 1000,
                         load=float(meta["loadBefore"].split()[0]), connected=r["viewersConnected"]))
    return runs
med = lambda xs: statistics.median([x for x in xs if x is not None]) if any(x is not None for x in xs) else float("nan")
print()
print("| viewers | server | runs | CPU s per GB (median; all) | fps median (min viewer) | latency p50 / p99 ms | peak RSS MB | RSS before / after MB | load avg before |")
print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
ratios = []
for v in viewers:
    m = {}
    for server in ("osprey", "relay"):
        runs = load(server, v)
        if not runs: continue
        m[server] = {k: med([r[k] for r in runs]) for k in runs[0]}
        allgb = ", ".join(f"{r['cpu_gb']:.3f}" for r in runs if r["cpu_gb"] is not None)
        print(f"| {v} | {server} | {len(runs)} | {m[server]['cpu_gb']:.3f} ({allgb}) | {m[server]['fps']:.2f} ({m[server]['fps_min']:.2f}) "
              f"| {m[server]['p50']:.1f} / {m[server]['p99']:.1f} | {m[server]['rss']:.1f} | {m[server]['rss0']:.1f} / {m[server]['rss1']:.1f} "
              f"| {', '.join(format(r['load'], '.1f') for r in runs)} |")
    if len(m) == 2:
        # Each repetition's pair ran back to back: the ratio within a pair is less exposed to other work.
        pairs = [o["cpu_gb"] / r["cpu_gb"] for o, r in zip(load("osprey", v), load("relay", v)) if o["cpu_gb"] and r["cpu_gb"]]
        ratios.append((v, m["osprey"]["cpu_gb"] / m["relay"]["cpu_gb"], pairs, m["osprey"]["fps"] / m["relay"]["fps"], m["osprey"]["p99"] / m["relay"]["p99"]))
print()
for v, cpu, pairs, fps, p99 in ratios:
    print(f"{v} viewers: Osprey / relay = {cpu:.2f}x CPU per GB (of the medians; per pair: median {statistics.median(pairs):.2f}x, "
          f"{', '.join(f'{p:.2f}' for p in pairs)}), {fps:.2f}x fps (median), {p99:.2f}x latency p99")
EOF
