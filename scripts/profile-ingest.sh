#!/usr/bin/env bash
# Where the gateway's CPU goes when reports flood in: the harness behind docs/performance.md's
# "Ingest CPU per report". A benchmark, not a test: it prints figures and asserts nothing.
#
#   scripts/profile-ingest.sh                               # this build
#   GATEWAY=/path/to/old/dctwin-gateway scripts/profile-ingest.sh   # another binary, same harness
#   PERF=1 scripts/profile-ingest.sh                        # and perf record the flood (perf.data)
#
# A broker on a free loopback port, the gateway (flap_count = 0, heartbeat 1 h), SERVERS servers
# commissioned with one report each, then:
#   1. flood: dctwin-loadgen publishes flat out for FLOOD seconds while the gateway applies;
#      prints reports applied per second and the gateway's CPU-s per 10,000 reports;
#   2. fixed: RATE reports/s for 10 s once the flood is worked off; CPU-s per 10,000 reports.
# Settings: GATEWAY, SERVERS (100000), FLOOD (10), RATE (10000), INGEST (broker.ingest_connections, 1),
# PERF (1: perf record -g on the gateway during the flood, to perf.data in the current directory;
# needs perf from linux-perf).
set -euo pipefail
perf_out="$PWD/perf.data"  # where it was started
cd "$(dirname "$0")/.."
GATEWAY=${GATEWAY:-build/gateway/dctwin-gateway}
SERVERS=${SERVERS:-100000}
FLOOD=${FLOOD:-10}
RATE=${RATE:-10000}
INGEST=${INGEST:-1}
[ -x build/tools/dctwin-loadgen ] || scripts/build.sh >/dev/null

source scripts/lib.sh
bench_setup profile
bench_gateway_config
"$GATEWAY" --config "$work/dctwin.toml" --broker "$uri" --state "$work/state.db" --gateway-id bench \
  > "$work/gateway.log" 2>&1 &
gw=$!

cpu_s() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / hz }' "/proc/$gw/stat"; }
applied_total() {
  curl -s "http://127.0.0.1:$metrics_port/metrics" | awk '/^dctwin_reports_applied_total/ { print $2 }'
}

echo "gateway: $GATEWAY, $SERVERS servers, ingest_connections=$INGEST"
loadgen --servers "$SERVERS" --racks $((SERVERS / 40)) --rate 20000 --duration $((SERVERS / 20000 + 1))

c0=$(cpu_s)
if [ "${PERF:-0}" = 1 ]; then
  perf record -F 999 -g -p "$gw" -o "$perf_out" -- sleep $((FLOOD + 2)) 2> "$work/perf.err" &
  perf_pid=$!
fi
loadgen --commission false --servers "$SERVERS" --rate 0 --duration "$FLOOD"
c1=$(cpu_s)
[ -n "${perf_pid:-}" ] && wait "$perf_pid"
echo "flood: published $published in $publish_s s; applied $applied by $applied_s s:" \
  "$(awk "BEGIN { printf \"%.0f reports/s, %.3f CPU-s per 10,000\", $applied / $applied_s, ($c1 - $c0) / $applied * 10000 }")"

# Until the flood is worked off: the count stops moving.
prev=-1
for _ in $(seq 120); do
  cur=$(applied_total)
  [ "$cur" = "$prev" ] && break
  prev=$cur
  sleep 1
done
a0=$(applied_total)
c0=$(cpu_s)
loadgen --commission false --servers "$SERVERS" --rate "$RATE" --duration 10
c1=$(cpu_s)
a1=$(applied_total)
echo "fixed $RATE/s: applied $((a1 - a0)), kept up: $kept_up:" \
  "$(awk "BEGIN { printf \"%.3f CPU-s per 10,000\", ($c1 - $c0) / ($a1 - $a0) * 10000 }")"
[ "${PERF:-0}" = 1 ] && echo "profile: $perf_out (perf report -i $perf_out --sort comm,dso)"
exit 0
