#!/usr/bin/env bash
# Ingest benchmark: how many metric reports per second the gateway applies on this machine.
# Starts its own mosquitto on a free loopback port and its own gateway, commissions SERVERS
# servers, then runs dctwin-loadgen at each rate in RATES (reports/s; 0 = as fast as it can) and
# prints published vs applied. A benchmark, not a test: it prints figures and asserts nothing.
#
#   scripts/bench-ingest.sh                       # 10,000 servers, QoS 0
#   SERVERS=100000 QOS=1 RATES="10000 20000" scripts/bench-ingest.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh >/dev/null

SERVERS=${SERVERS:-10000}
QOS=${QOS:-0}
DURATION=${DURATION:-10}
RATES=${RATES:-"20000 40000 50000 60000 0"}
work=$(mktemp -d -t dctwin-bench.XXXXXX)
source scripts/lib.sh
port=$(free_port)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# The gateway's session must be able to queue a burst of commissions: mosquitto's default of
# 1000 queued QoS 1 messages per client drops the rest of a fast burst.
start_mosquitto "$work" "$port" "max_queued_messages 1000000"

printf '[gateway]\nstats_interval_s = 0.5\n[model]\nheartbeat_timeout_s = 3600\n' > "$work/dctwin.toml"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
echo "servers: $SERVERS, QoS $QOS, $DURATION s per rate"
for rate in $RATES; do
  build/gateway/dctwin-gateway --config "$work/dctwin.toml" --broker "tcp://127.0.0.1:$port" \
    --state "$work/state.db" --gateway-id bench > "$work/gateway.log" 2>&1 &
  gw=$!
  echo "--- target rate: $([ "$rate" = 0 ] && echo 'as fast as possible' || echo "$rate/s")"
  build/tools/dctwin-loadgen --broker "tcp://127.0.0.1:$port" --gateway-id bench --servers "$SERVERS" \
    --duration "$DURATION" --qos "$QOS" --rate "$rate"
  kill -TERM $gw; wait $gw || true
done
