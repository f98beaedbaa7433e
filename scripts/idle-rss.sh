#!/usr/bin/env bash
# Resident memory of an idle `v2client serve` (release build, embedded SQLite, built-in
# backend with the face models loaded at start), read from /proc once the server answers
# /readyz and again after it has served a few requests and sat idle.
#
# Usage: scripts/idle-rss.sh            (SETTLE=5 seconds of idling before each reading)
set -euo pipefail
cd "$(dirname "$0")/.."

SETTLE=${SETTLE:-5}
PORT=${RSS_PORT:-18098}
work=$(mktemp -d)
server=
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT

[ -n "${SKIP_BUILD:-}" ] || cargo build --release --locked -q
export V2CLIENT_DATA_DIR="$work" V2CLIENT_BIND=127.0.0.1:$PORT V2CLIENT_LOG=info
target/release/v2client serve > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 1 600); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null

grep -m1 -o 'face models loaded.*' "$work/server.log" || { echo "no face models loaded"; exit 1; }

rss() { awk -v f="$1" '$1 == f":" {printf "%.1f MB", $2 / 1024}' "/proc/$server/status"; }
sleep "$SETTLE"
echo "idle after start:          VmRSS $(rss VmRSS), peak VmHWM $(rss VmHWM)"
for _ in $(seq 1 50); do
  curl -fs "http://127.0.0.1:$PORT/readyz" >/dev/null
  curl -fs "http://127.0.0.1:$PORT/openapi.json" >/dev/null
done
sleep "$SETTLE"
echo "idle after 100 requests:   VmRSS $(rss VmRSS), peak VmHWM $(rss VmHWM)"
echo "threads: $(awk '$1 == "Threads:" {print $2}' "/proc/$server/status")"
