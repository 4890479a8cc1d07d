#!/usr/bin/env bash
# Makes the MPEG-TS fixtures the unit tests read (committed, so that unit tests need no ffmpeg).
# Re-run only to change them; the tests assert the counts printed at the end.
set -euo pipefail
cd "$(dirname "$0")"
common=(-hide_banner -loglevel error -y)
out=(-fflags +bitexact -flags +bitexact -map_metadata -1)

# jsmpeg's recipe: MPEG-1 video, no B-frames; GOP 12 (ffmpeg's mpeg1video repeats the sequence header per GOP).
ffmpeg "${common[@]}" -f lavfi -i testsrc2=size=160x120:rate=25 -t 2 \
    -codec:v mpeg1video -q:v 16 -bf 0 -g 12 "${out[@]}" -f mpegts mpeg1video.ts
# H.264 (libx264), GOP 25 without scene-cut key frames.
ffmpeg "${common[@]}" -f lavfi -i testsrc2=size=160x120:rate=25 -t 3 \
    -codec:v libx264 -preset ultrafast -tune zerolatency -crf 38 -bf 0 -g 25 -keyint_min 25 -sc_threshold 0 \
    -pix_fmt yuv420p "${out[@]}" -f mpegts h264.ts
# Audio only: MP2 (jsmpeg's audio codec).
ffmpeg "${common[@]}" -f lavfi -i sine=frequency=440:sample_rate=44100 -t 2 \
    -codec:a mp2 -b:a 64k "${out[@]}" -f mpegts mp2.ts
# Video and audio from one ffmpeg (jsmpeg's recipe with audio).
ffmpeg "${common[@]}" -f lavfi -i testsrc2=size=160x120:rate=25 -f lavfi -i sine=frequency=440:sample_rate=44100 -t 1 \
    -codec:v mpeg1video -q:v 16 -bf 0 -g 12 -codec:a mp2 -b:a 64k -muxdelay 0.001 "${out[@]}" -f mpegts mpeg1video-mp2.ts

for f in *.ts; do
    keys=$(ffprobe -v error -select_streams v -show_entries packet=flags -of csv=p=0 "$f" | grep -c K || true)
    echo "$f: $(stat -c %s "$f") bytes, $((  $(stat -c %s "$f") / 188 )) packets, $keys video key frames"
done
