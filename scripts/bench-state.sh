#!/usr/bin/env bash
# State benchmark: bytes per server on disk, commit throughput, and the time from start to READY
# with SERVERS commissioned servers holding full 15-minute windows. Prints figures, asserts
# nothing.
#   scripts/bench-state.sh             # 100,000 servers
#   SERVERS=10000 scripts/bench-state.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh >/dev/null

SERVERS=${SERVERS:-100000}
work=$(mktemp -d -t dctwin-statebench.XXXXXX)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

build/tools/dctwin-statebench --state "$work/state.db" --servers "$SERVERS"

source scripts/lib.sh
port=$(free_port)
start_mosquitto "$work" "$port"

start=$(date +%s.%N)
build/gateway/dctwin-gateway --broker "tcp://127.0.0.1:$port" --state "$work/state.db" --gateway-id statebench \
  > "$work/gateway.log" 2>&1 &
gw=$!
until grep -q ' ready' "$work/gateway.log"; do
  kill -0 $gw 2>/dev/null || { cat "$work/gateway.log"; exit 1; }
  sleep 0.01
done
ready=$(date +%s.%N)
rss_kb=$(ps -o rss= -p $gw)
echo "start to READY          $(echo "$ready - $start" | bc) s ($(grep -o 'restored.*' "$work/gateway.log"))"
echo "resident memory         $((rss_kb / 1024)) MB, $((rss_kb * 1024 / SERVERS)) bytes per server twin"
kill -TERM $gw; wait $gw
