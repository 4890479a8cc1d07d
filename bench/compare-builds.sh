#!/usr/bin/env bash
# The release builds side by side (docs/benchmarks.md, "Native AOT against the JIT builds"): for each kind of
# scripts/publish.sh, its size, its start-up (exec to the first test-pattern frame at a real client, osprey-load
# startup), its idle memory, and 50 raw viewers (osprey-load: fps, CPU s per GB, peak RSS). Kinds are interleaved
# (their order rotates each repetition) and repeated, so that the other work on a shared machine falls on all of
# them alike; the summary gives medians, and every line records the load average it was measured under.
#
#   [REPS=3] [RUNS=5] [WINDOW=20] [VIEWERS=50] [KINDS="aot single-file single-file-r2r framework"] bench/compare-builds.sh [out-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-artifacts/compare-builds}
reps=${REPS:-3}
runs=${RUNS:-5}
window=${WINDOW:-20}
viewers=${VIEWERS:-50}
read -r -a kinds <<<"${KINDS:-aot single-file single-file-r2r framework}"
mkdir -p "$out"
rm -f "$out"/*.txt

declare -A bin
for kind in "${kinds[@]}"; do
  bin[$kind]=$(scripts/publish.sh --cached linux-x64 "$kind" | tail -1)
  [[ $kind == framework ]] && bin[$kind]=${bin[$kind]%/osprey}/osprey.dll
done
dotnet build bench/Osprey.LoadTest -c Release -nologo -v q >/dev/null
load=bench/Osprey.LoadTest/bin/Release/net10.0/osprey-load
port=8899
limits="--max-viewers 5000 --max-viewers-per-feed 5000 --max-connections-per-address 5000"

{
  echo "commit $(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src || echo ' (with uncommitted changes in src/)'), $(dotnet --version), $(nproc) cores, $(uname -r)"
  for kind in "${kinds[@]}"; do
    dir=$(dirname "${bin[$kind]}")
    if [[ $kind == framework ]]; then
      runtime=$(du -sb "$(dirname "$(readlink -f "$(command -v dotnet)")")"/shared/Microsoft.{NETCore,AspNetCore}.App/"$(dotnet --list-runtimes | awk '/NETCore/ {v=$2} END {print v}')" | awk '{s+=$1} END {print s}')
      echo "size $kind: $(du -sb --exclude=.stamp "$dir" | cut -f1) bytes in $(find "$dir" -type f ! -name .stamp | wc -l) files, plus the shared .NET and ASP.NET Core runtimes ($runtime bytes)"
    else
      echo "size $kind: $(stat -c %s "${bin[$kind]}") bytes (osprey)"
    fi
  done
} | tee "$out/sizes.txt"

load_average() { cut -d' ' -f1-3 /proc/loadavg; }

startup() { # kind rep first
  local kind=$1 rep=$2 first=$3
  local la
  la=$(load_average)
  local idle=3
  [[ $first == snapshot ]] && idle=0 # memory is read in the raw runs
  "$load" startup --exec "${bin[$kind]}" --runs "$runs" --first "$first" --idle $idle >"$out/startup-$first-$kind-$rep.log" 2>&1 || true
  echo "$kind rep $rep (load $la): $(tail -1 "$out/startup-$first-$kind-$rep.log")" | tee -a "$out/startup-$first.txt"
}

fanout() { # kind rep
  local kind=$1 rep=$2
  local la cmd=("${bin[$kind]}")
  [[ $kind == framework ]] && cmd=(dotnet "${bin[$kind]}")
  "${cmd[@]}" $limits --bind 127.0.0.1 --port $port --log-level warning >"$out/fanout-$kind-$rep.server.log" 2>&1 &
  local pid=$!
  sleep 3
  la=$(load_average)
  "$load" --url ws://127.0.0.1:$port/ws/test/raw --viewers "$viewers" --seconds "$window" --pid $pid --quiet >"$out/fanout-$kind-$rep.log" 2>&1 || true
  kill -TERM $pid
  wait $pid || true
  local fps cpu
  fps=$(grep -m1 "fps per viewer" "$out/fanout-$kind-$rep.log" | sed 's/^ *fps per viewer *//')
  cpu=$(grep -m1 "server pid" "$out/fanout-$kind-$rep.log" | sed 's/^ *server pid [0-9]* *//')
  echo "$kind rep $rep (load $la): fps $fps; $cpu" | tee -a "$out/fanout.txt"
}

for ((rep = 1; rep <= reps; rep++)); do
  # Rotate the order, so that no kind always runs first (on a cold cache) or last.
  order=("${kinds[@]:rep % ${#kinds[@]}}" "${kinds[@]:0:rep % ${#kinds[@]}}")
  for kind in "${order[@]}"; do
    startup "$kind" "$rep" raw
    startup "$kind" "$rep" snapshot
    fanout "$kind" "$rep"
  done
done

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) print "n/a"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }
{
  echo "== medians over $reps repetitions (start-up: medians of $runs starts each; fan-out: $viewers viewers, ${window} s)"
  for kind in "${kinds[@]}"; do
    raw=$(grep "^$kind rep" "$out/startup-raw.txt" | grep -o 'first frame [0-9.]*' | awk '{print $3}' | median)
    snap=$(grep "^$kind rep" "$out/startup-snapshot.txt" | grep -o 'first frame [0-9.]*' | awk '{print $3}' | median)
    listen=$(grep "^$kind rep" "$out/startup-raw.txt" | grep -o 'listening [0-9.]*' | awk '{print $2}' | median)
    startcpu=$(grep "^$kind rep" "$out/startup-raw.txt" | grep -o 'server CPU [0-9]* ms' | awk '{print $3}' | median)
    rss=$(grep "^$kind rep" "$out/startup-raw.txt" | grep -o 'idle RSS [0-9.]*' | awk '{print $3}' | median)
    anon=$(grep "^$kind rep" "$out/startup-raw.txt" | grep -o 'anonymous [0-9.]*' | awk '{print $2}' | median)
    gb=$(grep "^$kind rep" "$out/fanout.txt" | grep -o '[0-9.]* CPU s per GB' | awk '{print $1}' | median)
    peak=$(grep "^$kind rep" "$out/fanout.txt" | grep -o 'peak RSS [0-9.]*' | awk '{print $3}' | median)
    echo "$kind: listening $listen ms, first raw frame $raw ms, first snapshot $snap ms, CPU to first frame $startcpu ms, idle RSS $rss MB (anonymous $anon MB), $viewers viewers: $gb CPU s per GB, peak RSS $peak MB"
  done
} | tee "$out/summary.txt"
