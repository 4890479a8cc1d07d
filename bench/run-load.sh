#!/usr/bin/env bash
# Reproduces the fan-out figures in docs/benchmarks.md: for each case, a fresh osprey (the release build, Native
# AOT, what ships) on loopback, then osprey-load measuring it.  Usage: [CASES="raw jpeg ts soak"] bench/run-load.sh [out-dir]
# (default CASES: raw jpeg; ts, h264 and soak need ffmpeg, which makes their MPEG-TS files once into artifacts/ts)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-artifacts/load}
mkdir -p "$out"
dotnet publish src/Osprey.Server -c Release -r linux-x64 -o artifacts/publish >/dev/null
dotnet build bench/Osprey.LoadTest -c Release >/dev/null
load=bench/Osprey.LoadTest/bin/Release/net10.0/osprey-load
port=8899
# The load is the subject: lift the per-feed and per-address caps that protect a deployed server.
limits="--max-viewers 5000 --max-viewers-per-feed 5000 --max-connections-per-address 5000"

run_case() { # name, then osprey-load arguments (--url defaults to the raw feed)
  local name=$1; shift
  artifacts/publish/osprey $limits --bind 127.0.0.1 --port $port --log-level warning >"$out/$name.server.log" 2>&1 &
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

# MPEG-TS files for the ts and soak cases, made once: ffmpeg's lavfi test sources, as jsmpeg's examples encode.
ts_file() { # name, then ffmpeg input and output arguments
  local file=artifacts/ts/$1.ts; shift
  if [[ ! -s $file ]]; then
    mkdir -p artifacts/ts
    ffmpeg -hide_banner -loglevel error -nostdin -y "$@" "$file"
  fi
  echo "$file"
}

run_ts_case() { # name, then osprey-load arguments; the server starts with no source, the tool publishes video0
  local name=$1; shift
  artifacts/publish/osprey stream $limits --bind 127.0.0.1 --port $port --log-level warning >"$out/$name.server.log" 2>&1 &
  local pid=$!
  sleep 2
  "$load" --url ws://127.0.0.1:$port/ws/video0/ts --pid $pid --json "$out/$name.json" --quiet "$@" >"$out/$name.txt" 2>&1 || true
  curl -s "http://127.0.0.1:$port/api/feeds/video0" >"$out/$name.feed.json" || true
  kill -TERM $pid; wait $pid || true
  echo "== $name ($*)"; grep -E "viewers  |ts file|publisher|ts order|ts skips|Mbit/s per viewer|latency ms|server pid|viewer errors" "$out/$name.txt"
}

if [[ " $cases " == *" ts "* || " $cases " == *" soak "* ]]; then
  ts1m=$(ts_file mpeg1-1M -f lavfi -i testsrc2=size=640x360:rate=30 -t 20 -f mpegts -codec:v mpeg1video -b:v 1000k -bf 0)
  ts10m=$(ts_file mpeg1-10M -f lavfi -i testsrc2=size=1280x720:rate=30 -t 20 -f mpegts -codec:v mpeg1video -b:v 10M -bf 0)
  mp2=$(ts_file mp2-128k -f lavfi -i sine=frequency=440:sample_rate=44100 -t 20 -f mpegts -codec:a mp2 -b:a 128k)
fi

if [[ " $cases " == *" ts "* ]]; then
# The floor under the ingest figures: the same server, idle, over the same 20 s.
artifacts/publish/osprey stream $limits --bind 127.0.0.1 --port $port --log-level warning >"$out/ts-idle.server.log" 2>&1 &
idle_pid=$!
sleep 3
cpu0=$(awk '{print $14 + $15}' /proc/$idle_pid/stat); sleep 20; cpu1=$(awk '{print $14 + $15}' /proc/$idle_pid/stat)
rss=$(awk '/VmRSS/ {print $2}' /proc/$idle_pid/status)
kill -TERM $idle_pid; wait $idle_pid || true
echo "== ts-idle: server CPU $(( cpu1 - cpu0 )) ticks (1/$(getconf CLK_TCK) s) in 20 s, RSS $rss kB" | tee "$out/ts-idle.txt"
# Ingest alone: one publisher at 10 Mbit/s, no viewers, no markers (ffmpeg-like writes, then 1316-byte writes).
run_ts_case ts-ingest-10M --ts-file "$ts10m" --viewers 0 --no-markers --seconds 20
run_ts_case ts-ingest-10M-1316 --ts-file "$ts10m" --ts-write 1316 --viewers 0 --no-markers --seconds 20
# Cross-check with ffmpeg itself publishing the same file (-re -c copy, looped): server CPU over 20 s from /proc.
artifacts/publish/osprey stream $limits --bind 127.0.0.1 --port $port --log-level information >"$out/ts-ingest-10M-ffmpeg.server.log" 2>&1 &
ff_server=$!
sleep 2
timeout 28 ffmpeg -hide_banner -loglevel error -nostdin -re -stream_loop -1 -i "$ts10m" -c copy -f mpegts "http://127.0.0.1:$port/ts/video0" &
ff=$!
sleep 4
cpu0=$(awk '{print $14 + $15}' /proc/$ff_server/stat); sleep 20; cpu1=$(awk '{print $14 + $15}' /proc/$ff_server/stat)
rss=$(awk '/VmRSS/ {print $2}' /proc/$ff_server/status)
wait $ff || true
sleep 1
kill -TERM $ff_server; wait $ff_server || true
echo "== ts-ingest-10M-ffmpeg: server CPU $(( cpu1 - cpu0 )) ticks (1/$(getconf CLK_TCK) s) in 20 s, RSS $rss kB; $(grep -o 'left:.*' "$out/ts-ingest-10M-ffmpeg.server.log")" | tee "$out/ts-ingest-10M-ffmpeg.txt"
# jsmpeg-style viewers of a 1 Mbit/s MPEG-1 stream, every byte checked.
run_ts_case ts-v50 --ts-file "$ts1m" --viewers 50 --seconds 20 --warmup 2
run_ts_case ts-v500 --ts-file "$ts1m" --viewers 500 --seconds 20 --warmup 3
fi

run_h264_case() { # name, feed, source, then osprey-load arguments: fMP4 viewers of an H.264 feed
  local name=$1 feed=$2 source=$3; shift 3
  artifacts/publish/osprey stream $limits --bind 127.0.0.1 --port $port --log-level warning --source "$source" >"$out/$name.server.log" 2>&1 &
  local pid=$!
  sleep 3
  "$load" --url ws://127.0.0.1:$port/ws/$feed/mp4 --pid $pid --json "$out/$name.json" --quiet "$@" >"$out/$name.txt" 2>&1 || true
  curl -s "http://127.0.0.1:$port/api/feeds/$feed" >"$out/$name.feed.json" || true
  kill -TERM $pid; wait $pid || true
  echo "== $name ($*)"; grep -E "fps per viewer|latency ms|skipped|key|server pid" "$out/$name.txt"
}

if [[ " $cases " == *" h264 "* ]]; then
run_h264_case h264-ffmpeg-v200 cam 'cam=ffmpeg:-re -f lavfi -i testsrc2=size=1280x720:rate=30#output=h264&bitrate=2000&gop=60' --viewers 200 --stalled 1 --seconds 20 --warmup 2
run_h264_case h264-encoded-v200 test 'test=testpattern:?width=1280&height=720&fps=30' --viewers 200 --stalled 1 --seconds 20 --warmup 2
fi

if [[ " $cases " == *" soak "* ]]; then
# vw streams and destinations added and removed under ingest; the destinations push to a second osprey (relay).
relay_port=$((port + 1))
artifacts/publish/osprey stream $limits --allow-destination 127.0.0.1 --max-streams 10000 --max-destinations 10000 --bind 127.0.0.1 --port $port --log-level warning >"$out/soak.server.log" 2>&1 &
server_pid=$!
artifacts/publish/osprey relay --bind 127.0.0.1 --port $relay_port --log-level warning >"$out/soak.relay.log" 2>&1 &
relay_pid=$!
sleep 2
"$load" soak --url "http://127.0.0.1:$port/" --destination "ws://127.0.0.1:$relay_port/in/soak" \
    --publish "video0=$ts1m" --publish "audio0=$mp2" --cycles "${SOAK_CYCLES:-2000}" ${SOAK_ARGS:-} \
    --pid $server_pid --relay-pid $relay_pid --json "$out/soak.json" >"$out/soak.txt" 2>"$out/soak.log" || true
alive="server alive"; kill -0 $server_pid 2>/dev/null || alive="SERVER DIED"
kill -0 $relay_pid 2>/dev/null || alive="$alive, RELAY DIED"
kill -TERM $server_pid $relay_pid 2>/dev/null; wait $server_pid $relay_pid || true
echo "== soak ($alive)"; cat "$out/soak.txt"
fi
