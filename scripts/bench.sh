#!/usr/bin/env bash
# The ingest benchmark: prints one table of what this machine does with mosquitto on loopback.
# A benchmark, not a test: it measures and prints, and asserts nothing.
#
#   scripts/bench.sh                                   # QoS 0 and 1, 10,000 and 100,000 servers
#   QOS_LIST=0 SERVERS_LIST=10000 DURATION=5 scripts/bench.sh   # a quicker look
#
# Per QoS, in the same run and against the same broker:
#   - flood rates: a publisher floods DURATION seconds of reports flat out while the consumer
#     takes them live, publisher, broker and consumer on the same cores. Measured for a bare
#     mosquitto_sub and for the gateway (reports applied over the time until the last was
#     applied); the ratio is what the gateway's CPU per report costs it when it shares the cores;
#   - drain rates: the broker queues DURATION seconds of a publisher's flood for a consumer that is
#     away (persistent session, QoS 0 queued too), then the consumer connects and empties the
#     queue alone with the broker; its rate is messages over the time from its first to its last.
#     Measured for a bare mosquitto_sub, a bare Paho consumer (tools/drain.cc) and the gateway
#     (reports applied to twins, from its stats);
#   - the gateway's highest sustained rate: a publisher runs at a fixed rate for DURATION seconds
#     while the gateway applies; the highest rate of a descending ladder (fractions of its drain
#     rate) at which every report was applied and the gateway finished no later than max(1 s, 10%)
#     after the publisher (dctwin-loadgen's kept_up). Publisher, broker and gateway share the cores;
#   - publish-to-alert latency at half the sustained rate: probe servers publish a report that
#     opens a disk incident, and the time until the event arrives is one sample. The probes run in
#     a process of their own, beside the one that makes the load. Two more figures put it in
#     context: the gateway's own share (its dctwin_alert_latency_seconds histogram, from the
#     report's receipt to the alert's hand-over to the MQTT client) and the broker floor (the same
#     probes at the same load answered by a stand-in that only echoes: two trips through the broker);
#   - the gateway's CPU time (user + system, from /proc) per 10,000 reports at the sustained rate.
# Then resident memory per server twin with full 15-minute windows (10 s interval, 8 metrics):
# the gateway restores MEMORY_SERVERS such twins, and its resident set is divided by them.
#
# Settings: SERVERS_LIST, QOS_LIST, DURATION (seconds per step), LATENCY_DURATION (the latency step), INGEST (the gateway's
# broker.ingest_connections), PUBLISHERS (publishing connections at QoS 0), QOS1_PUBLISHERS and
# QOS1_WINDOW (at QoS 1 each connection waits for the broker's PUBACKs: one connection with the
# broker's default window of 20 publishes only about 33,000/s, which would measure the publisher,
# not the gateway), SHARDS (0 = one per core), MEMORY_SERVERS (0 skips the memory figure),
# GATEWAY (the dctwin-gateway binary, build/gateway/dctwin-gateway) and BASELINE (another
# dctwin-gateway binary, e.g. one built from an older commit: its rows are measured in the same
# run, before this build's, so that a change is compared on the same machine and moment).
#
# FIXED_RATE=R (with BASELINE, or for this binary alone) measures only the CPU per report of the two binaries at one rate,
# the same load for both: ROUNDS (3) rounds, each starting each binary in turn on the first of
# SERVERS_LIST servers, commissioning them, sending one report per server, waiting until it is
# quiet (their health published), then R reports/s for DURATION seconds; it prints the CPU s per
# 10,000 reports of each round and their medians.
# PERF=<path> also records a profile of each binary's measured step (<path>.<name>.<round>).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh >/dev/null

SERVERS_LIST=${SERVERS_LIST:-"10000 100000"}
QOS_LIST=${QOS_LIST:-"0 1"}
DURATION=${DURATION:-10}
INGEST=${INGEST:-1}
PUBLISHERS=${PUBLISHERS:-1}
QOS1_PUBLISHERS=${QOS1_PUBLISHERS:-1}
QOS1_WINDOW=${QOS1_WINDOW:-20}
GATEWAY=${GATEWAY:-build/gateway/dctwin-gateway}
BASELINE=${BASELINE:-}
SHARDS=${SHARDS:-0}
MEMORY_SERVERS=${MEMORY_SERVERS:-100000}
LADDER=${LADDER:-"1.0 0.9 0.8 0.7 0.6 0.5 0.4 0.3 0.2"}
# The latency step samples every 50 ms: 30 s give 600 samples, enough for a p99 that is not just
# the second-worst of a handful.
LATENCY_DURATION=${LATENCY_DURATION:-30}

source scripts/lib.sh
# Queues deep enough that nothing a flood puts in is dropped by the broker (its default keeps 1000
# QoS 1 messages per client), QoS 0 queued for persistent sessions too (for the drain rates), and
# no Nagle delay on the broker's sockets (see docs/performance.md).
bench_setup bench
gw=""

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
written_bytes() { awk '/^wchar:/ {print $2}' "/proc/$1/io"; }  # what it handed to write() and its kin
ticks_per_s=$(getconf CLK_TCK)

# The drain rates: the broker queues a flood for a consumer that is away (persistent session),
# then the consumer connects and empties the queue; its rate is messages over the time from its
# first to its last message. Broker and consumer alone on the cores, no publisher competing.
# pub_args QOS: the publishing connections (and QoS 1 window) for a QoS.
pub_args() {
  if [ "$1" = 0 ]; then echo "--connections $PUBLISHERS"; else echo "--connections $QOS1_PUBLISHERS --window $QOS1_WINDOW"; fi
}

preload() {  # QOS: floods DURATION seconds of reports into the broker; sets $published
  loadgen --no-gateway --servers 10000 --duration "$DURATION" --qos "$1" --rate 0 $(pub_args "$1")
}

# Removes a persistent session (a clean connect under its id), so that it queues nothing for the
# next measurement.
wipe_session() { mosquitto_sub -V 5 -h 127.0.0.1 -p "$port" -i "$1" -t bench/none -E; }
# The gateway's own sessions (control and ingest connections), so that the next one starts clean.
wipe_gateway_sessions() {
  for id in bench $(seq -f 'bench-ingest-%g' 1 "$INGEST"); do wipe_session "$id"; done
}
# commission_all SERVERS QOS: commissions the servers and sends one report each, so that every
# twin has published its first health.
commission_all() {
  loadgen --servers "$1" --racks $(($1 / 40)) --probes 4 --qos "$2" $(pub_args "$2") \
    --rate 20000 --duration $(awk "BEGIN { print $1 / 20000 + 1 }")
}
# cpu_per_10k TICKS_BEFORE TICKS_AFTER REPORTS: CPU seconds per 10,000 reports.
cpu_per_10k() { awk "BEGIN { printf \"%.3f\", ($2 - $1) / $ticks_per_s / $3 * 10000 }"; }

# mosquitto_sub_rate QOS: a bare mosquitto_sub printing each message's receive time to a file.
mosquitto_sub_rate() {
  local qos=$1 out="$work/sub.out" sub=(mosquitto_sub -V 5 -h 127.0.0.1 -p "$port" -i bench-sub -c -x 3600 -q "$1"
    -t 'dctwin/metrics/+')
  "${sub[@]}" -E
  preload "$qos"
  "${sub[@]}" -F '%U' -C "$published" > "$out"
  wipe_session bench-sub
  awk '{ if (n == 0) first = $1; last = $1; n++ } END { printf "%.0f\n", (n - 1) / (last - first) }' "$out"
}

# mosquitto_sub_flood QOS: a bare mosquitto_sub taking a flood live, the publisher on the same
# cores; messages over the time from its first to its last.
mosquitto_sub_flood() {
  local qos=$1 out="$work/flood.out" marker=0
  mosquitto_sub -V 5 -h 127.0.0.1 -p "$port" -q "$qos" -t 'dctwin/metrics/+' -F '%U' >> "$out" &
  local sub=$!
  # Subscribed once a marker comes back; the flood is what follows it.
  for _ in $(seq 100); do
    mosquitto_pub -V 5 -h 127.0.0.1 -p "$port" -t dctwin/metrics/bench-marker -m '{}'
    sleep 0.1
    [ "$(wc -l < "$out")" -gt 0 ] && break
  done
  sleep 0.5  # a second marker still on its way must not count as part of the flood
  marker=$(wc -l < "$out")
  loadgen --no-gateway --servers 10000 --duration "$DURATION" --qos "$qos" --rate 0 $(pub_args "$qos") >&2
  for _ in $(seq 1200); do
    [ "$(wc -l < "$out")" -ge $((marker + published)) ] && break
    sleep 0.1
  done
  kill "$sub"; wait "$sub" 2>/dev/null || true
  awk -v m="$marker" 'NR > m { if (n == 0) first = $1; last = $1; n++ } END { printf "%.0f\n", (n - 1) / (last - first) }' "$out"
  rm -f "$out"
}

# paho_rate QOS: the bare Paho consumer (tools/drain.cc).
paho_rate() {
  local qos=$1 drain=(build/tools/dctwin-drain --broker "$uri" --qos "$1" --topic 'dctwin/metrics/+' --client-id bench-paho)
  "${drain[@]}" --subscribe-only
  preload "$qos"
  "${drain[@]}" --count "$published" | sed -n 's/.* rate \([0-9]*\)\/s/\1/p'
  wipe_session bench-paho
}

# gateway_drain SERVERS QOS: the same for the gateway (stopped, flooded, started again); its rate
# is reports applied (stats messages_in) over the time from the first stats that counted any.
# Sets $drain (not run in a subshell: it restarts the gateway, whose pid is $gw).
gateway_drain() {
  stop_gateway
  loadgen --no-gateway --servers "$1" --duration "$DURATION" --qos "$2" --rate 0 $(pub_args "$2")
  local n=$published
  start_gateway keep
  # Its Prometheus endpoint, polled: stats are published only once every subscription is granted,
  # and the queue starts draining before that.
  drain=$(scripts/drain-rate.py "http://127.0.0.1:$metrics_port/metrics" "$n")
}

start_gateway() {  # [keep]: on the state the last one left
  [ "${1:-}" = keep ] || rm -f "$work"/state.db*
  bench_gateway_config
  "$gw_bin" --config "$work/dctwin.toml" --broker "$uri" --state "$work/state.db" \
    --gateway-id bench > "$work/gateway.log" 2>&1 &
  gw=$!
}
stop_gateway() { kill -TERM "$gw"; wait "$gw" || true; gw=""; }

# The gateway's alert-latency histogram: "<upper bound> <cumulative count>" lines (none from a
# gateway that has no such histogram).
alert_histogram() {
  curl -s "http://127.0.0.1:$metrics_port/metrics" |
    sed -n 's/^dctwin_alert_latency_seconds_bucket{le="\([^"]*\)"} \([0-9.e+]*\)$/\1 \2/p'
}
# histogram_quantiles BEFORE AFTER: the bucket bounds holding the p50 and p99 of the samples taken
# between two alert_histogram snapshots, in ms ("<= 2 / <= 20"), or "-".
histogram_quantiles() {
  paste -d' ' <(echo "$1") <(echo "$2") | awk '
    NF == 4 { le[n] = $1; c[n] = $4 - $2; n++ }
    END {
      if (n == 0 || c[n - 1] <= 0) { print "-"; exit }
      total = c[n - 1]
      for (i = 0; i < n; i++) {
        if (p50 == "" && c[i] >= 0.5 * total) p50 = le[i]
        if (p99 == "" && c[i] >= 0.99 * total) p99 = le[i]
      }
      printf "<= %s / <= %s ms (%d alerts)", (p50 == "+Inf" ? p50 : p50 * 1000), (p99 == "+Inf" ? p99 : p99 * 1000), total
    }'
}

# latency_step SERVERS QOS RATE: publish-to-alert latency at RATE reports/s. The load comes from one
# dctwin-loadgen and the probes from another (Paho C sends for all of a process's connections on
# one thread: a probe beside the load would wait behind it in the publisher). Sets p50_ms,
# p99_ms, latency_samples; gateway_share (from the gateway's own histogram: receipt to hand-over
# of the alert); floor_p50_ms, floor_p99_ms: the same probes answered by a stand-in that does
# nothing but answer (dctwin-loadgen --echo, under its own prefix), at the same load: the two
# trips through the broker on this machine, the floor under the gateway's figure.
latency_step() {
  local servers=$1 qos=$2 rate=$3 h0 h1 bg echo_pid
  background() {
    build/tools/dctwin-loadgen --broker "$uri" --gateway-id bench --commission false --servers "$servers" \
      --qos "$qos" $(pub_args "$qos") --rate "$rate" --duration "$LATENCY_DURATION" > "$work/background.out" 2>&1 &
    bg=$!
  }
  h0=$(alert_histogram)
  background
  loadgen --commission false --probe-only --probes 4 --qos "$qos" --duration "$LATENCY_DURATION"
  wait "$bg" || { cat "$work/background.out" >&2; return 1; }
  h1=$(alert_histogram)
  gateway_share=$(histogram_quantiles "$h0" "$h1")
  local gw_p50=$p50_ms gw_p99=$p99_ms gw_samples=$latency_samples
  background
  build/tools/dctwin-loadgen --broker "$uri" --prefix bench-echo --echo --probes 4 \
    --duration $((LATENCY_DURATION + 5)) > "$work/echo.out" 2>&1 &
  echo_pid=$!
  # Its subscriptions first: a probe sent before them would only time out.
  for _ in $(seq 100); do grep -q '^echo ready' "$work/echo.out" && break; sleep 0.1; done
  loadgen --prefix bench-echo --commission false --probe-only --probes 4 --qos "$qos" --duration "$LATENCY_DURATION"
  floor_p50_ms=$p50_ms
  floor_p99_ms=$p99_ms
  wait "$bg" || true
  kill "$echo_pid" 2>/dev/null; wait "$echo_pid" 2>/dev/null || true
  p50_ms=$gw_p50
  p99_ms=$gw_p99
  latency_samples=$gw_samples
}

echo "machine:   $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GB"
echo "software:  $(mosquitto -h 2>/dev/null | head -1), Paho C $(dpkg-query -W -f='${Version}' libpaho-mqtt1.3 2>/dev/null)," \
  "Paho C++ $(dpkg-query -W -f='${Version}' libpaho-mqttpp3-1 2>/dev/null)"
echo "settings:  $DURATION s per step, gateway ingest_connections=$INGEST, shards=$SHARDS (0 = one per core)," \
  "$PUBLISHERS publishing connection(s) at QoS 0, $QOS1_PUBLISHERS with a window of $QOS1_WINDOW at QoS 1;" \
  "everything on these $(nproc) cores"
echo "gateway:   $GATEWAY${BASELINE:+ (baseline: $BASELINE)}"
gw_bin=$GATEWAY
gateways=("this=$GATEWAY")
[ -n "$BASELINE" ] && gateways=("baseline=$BASELINE" "this=$GATEWAY")
echo

# wait_quiet PID: until the process used under 5 % of a core over half a second (the health of
# every newly commissioned twin has gone out), at most 60 s.
wait_quiet() {
  local a b
  for _ in $(seq 120); do
    a=$(cpu_ticks "$1")
    sleep 0.5
    b=$(cpu_ticks "$1")
    [ $(( (b - a) * 100 )) -lt $(( ticks_per_s * 5 / 2 )) ] && return 0
  done
  echo "  (pid $1 did not go quiet within 60 s)" >&2
}

# fixed_rate_ab: the FIXED_RATE comparison (see the top).
fixed_rate_ab() {
  local servers=${SERVERS_LIST%% *} qos=${QOS_LIST%% *} rounds=${ROUNDS:-3} round spec name c0 c1 w0 w1 cpu rss_kb profiler
  local -A runs=()
  for round in $(seq "$rounds"); do
    for spec in "${gateways[@]}"; do
      name=${spec%%=*}
      gw_bin=${spec#*=}
      start_gateway
      commission_all "$servers" "$qos"
      wait_quiet "$gw"
      profiler=""
      if [ -n "${PERF:-}" ]; then
        perf record -q -g -p "$gw" -o "$PERF.$name.$round" 2>/dev/null &
        profiler=$!
      fi
      c0=$(cpu_ticks "$gw")
      w0=$(written_bytes "$gw")
      loadgen --commission false --servers "$servers" --qos "$qos" $(pub_args "$qos") --rate "$FIXED_RATE" \
        --duration "$DURATION"
      c1=$(cpu_ticks "$gw")
      w1=$(written_bytes "$gw")
      rss_kb=$(ps -o rss= -p "$gw")
      if [ -n "$profiler" ]; then kill -INT "$profiler"; wait "$profiler" || true; fi
      stop_gateway
      wipe_gateway_sessions
      cpu=$(cpu_per_10k "$c0" "$c1" "$applied")
      runs[$name]+="$cpu "
      echo "  round $round, $name: applied $applied of $published, kept up: $kept_up, CPU s per 10k reports $cpu," \
        "bytes written per report $(( (w1 - w0) / applied )), resident $((rss_kb / 1024)) MiB" >&2
    done
  done
  echo "CPU s per 10,000 reports, $servers servers, QoS $qos, $FIXED_RATE reports/s for $DURATION s, $rounds rounds:"
  for spec in "${gateways[@]}"; do
    name=${spec%%=*}
    echo "  $name: ${runs[$name]}(median $(echo "${runs[$name]}" | tr ' ' '\n' | grep . | sort -n |
      awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'))"
  done
}
if [ -n "${FIXED_RATE:-}" ]; then
  fixed_rate_ab
  exit 0
fi

rows=()
for qos in $QOS_LIST; do
  echo "QoS $qos: bare consumers ..." >&2
  sub=$(mosquitto_sub_rate "$qos")
  paho=$(paho_rate "$qos")
  sub_flood=$(mosquitto_sub_flood "$qos")
  for spec in "${gateways[@]}"; do
  name=${spec%%=*}
  gw_bin=${spec#*=}
  for servers in $SERVERS_LIST; do
    echo "QoS $qos, $servers servers: gateway ($name) ..." >&2
    start_gateway
    commission_all "$servers" "$qos"
    gateway_drain "$servers" "$qos"
    # The flood: flat out, live, with the publisher on the same cores.
    loadgen --commission false --servers "$servers" --qos "$qos" $(pub_args "$qos") --rate 0 --duration "$DURATION"
    flood=$(awk "BEGIN { printf \"%.0f\", $applied / $applied_s }")
    echo "  flood: published $published, applied $applied by $applied_s s" >&2
    # The ladder: the first rate it keeps up with.
    sustained=0
    cpu10k="-"
    for f in $LADDER; do
      rate=$(awk "BEGIN { r = int($drain * $f / 1000) * 1000; print (r < 1000 ? 1000 : r) }")
      c0=$(cpu_ticks "$gw")
      loadgen --commission false --servers "$servers" --qos "$qos" $(pub_args "$qos") --rate "$rate" \
        --duration "$DURATION"
      c1=$(cpu_ticks "$gw")
      echo "  $rate/s: published $published, applied $applied by $applied_s s, kept up: $kept_up" >&2
      if [ "$kept_up" = 1 ]; then
        sustained=$(awk "BEGIN { printf \"%.0f\", $applied / $publish_s }")
        cpu10k=$(cpu_per_10k "$c0" "$c1" "$applied")
        break
      fi
    done
    half=$((sustained / 2))
    latency_step "$servers" "$qos" "$half"
    echo "  latency at $half/s: p50 $p50_ms / p99 $p99_ms ms; the gateway's own $gateway_share;" \
      "broker floor p50 $floor_p50_ms / p99 $floor_p99_ms ms" >&2
    stop_gateway
    wipe_gateway_sessions
    rows+=("$(printf '| %s | %d | %s | %s / %s = %.2f | %s | %s | %s | %s | %.2f / %.2f | %.2f / %.2f | %s | %s / %s ms | %s | %s / %s ms | %s |' \
      "$name" "$qos" "$servers" "$flood" "$sub_flood" "$(awk "BEGIN { print $flood / $sub_flood }")" \
      "$sustained" "$drain" "$sub" "$paho" "$(awk "BEGIN { print $sustained / $sub }")" \
      "$(awk "BEGIN { print $drain / $sub }")" "$(awk "BEGIN { print $sustained / $paho }")" \
      "$(awk "BEGIN { print $drain / $paho }")" "$half" "$p50_ms" "$p99_ms ($latency_samples samples)" \
      "$gateway_share" "$floor_p50_ms" "$floor_p99_ms" "$cpu10k")")
  done
  done
done

echo "| gateway | QoS | servers | flood/s: gateway / mosquitto_sub = ratio | gateway sustained/s | gateway drain/s | mosquitto_sub drain/s | Paho drain/s | sustained / drain vs mosquitto_sub | sustained / drain vs Paho | latency at /s | p50 / p99 publish-to-alert | of which the gateway: p50 / p99 | broker floor: p50 / p99 | CPU s per 10k reports |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
for r in "${rows[@]}"; do echo "$r"; done

if [ "$MEMORY_SERVERS" -gt 0 ]; then
  gw_bin=$GATEWAY
  echo
  echo "memory: restoring $MEMORY_SERVERS servers with full 15-minute windows ..." >&2
  rm -f "$work"/state.db*
  start_gateway
  until grep -q ' ready' "$work/gateway.log"; do sleep 0.05; done
  empty_kb=$(ps -o rss= -p "$gw")
  stop_gateway
  build/tools/dctwin-statebench --state "$work/state.db" --servers "$MEMORY_SERVERS" > /dev/null
  "$GATEWAY" --config "$work/dctwin.toml" --broker "$uri" --state "$work/state.db" \
    --gateway-id bench > "$work/gateway.log" 2>&1 &
  gw=$!
  until grep -q ' ready' "$work/gateway.log"; do sleep 0.05; done
  full_kb=$(ps -o rss= -p "$gw")
  stop_gateway
  echo "resident memory: $((full_kb / 1024)) MB with $MEMORY_SERVERS server twins, $((empty_kb / 1024)) MB with none:" \
    "$(( (full_kb - empty_kb) * 1024 / MEMORY_SERVERS )) bytes per server twin" \
    "($((full_kb * 1024 / MEMORY_SERVERS)) counting the whole process)"
  # Every start publishes every twin's health at restore: the burst is held in memory
  # until the broker has it, and the allocator keeps the peak.
  build/tools/dctwin-statebench --state "$work/state.db" --servers "$MEMORY_SERVERS" > /dev/null
  "$GATEWAY" --config "$work/dctwin.toml" --broker "$uri" --state "$work/state.db" \
    --gateway-id bench > "$work/gateway.log" 2>&1 &
  gw=$!
  until grep -q ' ready' "$work/gateway.log"; do sleep 0.05; done
  # until the health of every twin went out: nothing left queued for the broker
  for _ in $(seq 600); do
    curl -s "http://127.0.0.1:$metrics_port/metrics" | grep -q '^dctwin_outbound_queued 0$' && break
    sleep 0.1
  done
  crash_kb=$(ps -o rss= -p "$gw")
  stop_gateway
  echo "after a crash (health published again): $((crash_kb / 1024)) MB, $(( (crash_kb - empty_kb) * 1024 / MEMORY_SERVERS ))" \
    "bytes per server twin"
fi
