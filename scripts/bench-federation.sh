#!/usr/bin/env bash
# The federation benchmark: the figures behind the capacity plan in docs/scale-out.md. A benchmark,
# not a test: it measures, prints, and asserts nothing. Every process is pinned with taskset.
#
#   scripts/bench-federation.sh
#   POD_SERVERS=20000 DURATION=5 STEADY_S=20 scripts/bench-federation.sh   # a quicker look
#
# 1. One pod's capacity, native JSON and collectd: the pod broker on core 0, the pod gateway on
#    core 1. The broker queues DURATION seconds of a flood (POD_SERVERS servers, QoS 0) for the
#    gateway's persistent session while it is stopped; the gateway then drains the queue with the
#    broker alone on the machine. Reports applied per second, and, for the same flood, what a bare
#    mosquitto_sub on core 1 receives (the broker's ceiling, in messages).
# 2. What crosses a bridge per BRIDGE_SERVERS servers: a pod broker bridged (MQTT 5, QoS 1,
#    persistent) to a site broker, a pod gateway and a site gateway, dctwin-sim reporting every 10 s.
#    Brokers and the simulator on core 0, gateways on core 1. Messages on the bridged topics of the
#    pod broker (everything there crosses), in steady state (after the first reports' health) and
#    during an incident storm (every rack's power sags, then recovers).
# 3. The site gateway's cost for that pod: CPU seconds per second and per bridged message, and its
#    resident memory.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh >/dev/null
source scripts/lib.sh

POD_SERVERS=${POD_SERVERS:-100000}
DURATION=${DURATION:-10}
BRIDGE_SERVERS=${BRIDGE_SERVERS:-10000}
WARM_S=${WARM_S:-25}      # first reports and their health, not counted as steady state
STEADY_S=${STEADY_S:-60}  # the steady-state window
STORM_S=${STORM_S:-60}    # the storm window: sag at its start, recovery 30 s in

work=$(mktemp -d -t dctwin-benchfed.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() { kill "${pids[@]}" $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
ticks_per_s=$(getconf CLK_TCK)

# pinned_mosquitto DIR PORT CORE [extra]: start_mosquitto, then pinned to CORE (with its threads).
pinned_mosquitto() {
  mkdir -p "$1"
  start_mosquitto "$1" "$2" "${4:-}"
  taskset -a -p -c "$3" "$(pgrep -n -f "mosquitto -c $1/mosquitto.conf")" > /dev/null
}

# gateway NAME ROLE PORT CORE METRICS_PORT [nowait]: a pinned gateway in the background; sets
# $gw_pid; returns once it is ready (nowait: at once).
gateway() {
  printf '[gateway]\nid = "%s"\nrole = "%s"\nstats_interval_s = 1\n[metrics]\nlisten = "127.0.0.1:%s"\n[model]\nheartbeat_timeout_s = 3600\n' \
    "$1" "$2" "$5" > "$work/$1.toml"
  taskset -c "$4" build/gateway/dctwin-gateway --config "$work/$1.toml" --broker "tcp://127.0.0.1:$3" \
    --state "$work/$1.db" > "$work/$1.log" 2>&1 &
  gw_pid=$!
  pids+=("$gw_pid")
  [ "${6:-}" = nowait ] && return 0
  for _ in $(seq 200); do grep -q ' ready' "$work/$1.log" && return 0; sleep 0.05; done
  echo "gateway $1 did not start; see its log:" >&2
  cat "$work/$1.log" >&2
  return 1
}
stop() { kill -TERM "$1" 2>/dev/null; wait "$1" 2>/dev/null || true; }

echo "machine:   $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GB"
echo "software:  $(mosquitto -h 2>/dev/null | head -1)"
echo

# --- 1. one pod's capacity ---------------------------------------------------------------------
pod_capacity() {  # FORMAT: prints "<reports/s> <mosquitto_sub messages/s> <messages per report>"
  local format=$1 port mport dir="$work/cap-$1" parts=1
  [ "$format" = collectd ] && parts=6
  port=$(free_port); mport=$(free_port)
  pinned_mosquitto "$dir" "$port" 0 "max_queued_messages 0
queue_qos0_messages true"
  local uri="tcp://127.0.0.1:$port"
  # Commission the servers (and leave the gateway's persistent session subscribed), then stop it.
  gateway "cap-$format" pod "$port" 1 "$mport"
  taskset -c 1 build/tools/dctwin-loadgen --broker "$uri" --gateway-id "cap-$format" --servers "$POD_SERVERS" \
    --racks $((POD_SERVERS / 40)) --rate 20000 --duration 1 --format "$format" > "$work/cap-commission.log"
  stop "$gw_pid"
  # The flood, queued for the gateway; then the gateway drains it, its counter polled from its start.
  flood() {
    taskset -c 1 build/tools/dctwin-loadgen --broker "$uri" --no-gateway --servers "$POD_SERVERS" \
      --duration "$DURATION" --qos 0 --rate 0 --format "$format" > "$work/cap-flood.log"
    sed -n 's/^result published=\([0-9]*\).*/\1/p' "$work/cap-flood.log"
  }
  local reports
  reports=$(flood)
  gateway "cap-$format" pod "$port" 1 "$mport" nowait
  # collectd: a report is applied once its parts have gone quiet for assemble_s, so the last ones
  # wait that long: count to 99 % (native: every report).
  local rate
  rate=$(scripts/drain-rate.py "http://127.0.0.1:$mport/metrics" $((reports * (parts == 1 ? 100 : 99) / 100)))
  stop "$gw_pid"
  # The broker's ceiling: a bare mosquitto_sub drains a flood of the same kind.
  mosquitto_sub -V 5 -h 127.0.0.1 -p "$port" -i cap-sub -c -x 3600 -q 0 -t "dctwin/metrics/+" -t "collectd/#" -E
  reports=$(flood)
  taskset -c 1 mosquitto_sub -V 5 -h 127.0.0.1 -p "$port" -i cap-sub -c -x 3600 -q 0 -t "dctwin/metrics/+" \
    -t "collectd/#" -F '%U' -C $((reports * parts)) > "$work/cap-sub.out"
  local sub_rate
  sub_rate=$(awk '{ if (n == 0) first = $1; last = $1; n++ } END { printf "%.0f", (n - 1) / (last - first) }' "$work/cap-sub.out")
  kill "$(pgrep -n -f "mosquitto -c $dir/mosquitto.conf")"
  echo "${rate:-0} $sub_rate $parts"
}

echo "1. one pod (broker on core 0, gateway on core 1), $POD_SERVERS servers, a ${DURATION}-s flood drained" >&2
read -r native_rate native_sub _ < <(pod_capacity native)
read -r collectd_rate collectd_sub collectd_parts < <(pod_capacity collectd)
echo "| one pod, $POD_SERVERS servers | reports/s applied | mosquitto_sub messages/s (broker ceiling) | messages per report | broker ceiling in reports/s |"
echo "|---|---|---|---|---|"
echo "| native JSON | $native_rate | $native_sub | 1 | $native_sub |"
echo "| collectd | $collectd_rate | $collectd_sub | $collectd_parts | $((collectd_sub / collectd_parts)) |"
echo

# --- 2. and 3. a bridge and the site -------------------------------------------------------------
echo "2. a pod of $BRIDGE_SERVERS servers bridged to a site (brokers and simulator on core 0, gateways on core 1)" >&2
site_port=$(free_port); pod_port=$(free_port); site_m=$(free_port); pod_m=$(free_port)
pinned_mosquitto "$work/site" "$site_port" 0 "max_queued_messages 100000"
pinned_mosquitto "$work/pod" "$pod_port" 0 "max_queued_messages 100000
connection pod1
address 127.0.0.1:$site_port
bridge_protocol_version mqttv50
cleansession false
remote_clientid pod1-bridge
restart_timeout 1 5
notification_topic dctwin/gateway/pod1/bridge
$(grep '^topic ' config/federation/pod-mosquitto.conf)"
gateway site site "$site_port" 1 "$site_m"; site_pid=$gw_pid
gateway pod1 pod "$pod_port" 1 "$pod_m"; pod_pid=$gw_pid
# Everything on the bridged-out topics of the pod broker crosses the bridge.
taskset -c 0 mosquitto_sub -V 5 -h 127.0.0.1 -p "$pod_port" -q 1 -F '%U' \
  $(grep '^topic .* out ' config/federation/pod-mosquitto.conf | awk '{ print "-t " $2 }') > "$work/bridged.out" &
pids+=($!)
racks=$((BRIDGE_SERVERS / 40))
storm_at=$((WARM_S + STEADY_S))
t0=$(date +%s.%N)
taskset -c 0 build/tools/dctwin-sim --broker "tcp://127.0.0.1:$pod_port" --racks "$racks" --servers-per-rack 40 \
  --interval 10 --duration $((storm_at + STORM_S + 5)) \
  --scenario "$storm_at power-sag $racks; $((storm_at + 30)) recover-all" > "$work/sim.log" 2>&1 &
pids+=($!)
sleep_until() { sleep "$(awk "BEGIN { d = $t0 + $1 - $(date +%s.%N); print (d > 0 ? d : 0) }")"; }
sleep_until "$WARM_S"
c_steady0=$(cpu_ticks "$site_pid"); p_steady0=$(cpu_ticks "$pod_pid")
sleep_until "$storm_at"
c_storm0=$(cpu_ticks "$site_pid"); p_storm0=$(cpu_ticks "$pod_pid")
sleep_until $((storm_at + STORM_S))
c_storm1=$(cpu_ticks "$site_pid"); p_storm1=$(cpu_ticks "$pod_pid")
site_rss=$(ps -o rss= -p "$site_pid"); pod_rss=$(ps -o rss= -p "$pod_pid")
sleep 1
# Messages in a window [a, b) of seconds after t0, and the busiest second in it.
window() {
  awk -v t0="$t0" -v a="$1" -v b="$2" '{ t = $1 - t0; if (t >= a && t < b) { n++; s[int(t)]++ } }
    END { m = 0; for (k in s) if (s[k] > m) m = s[k]; printf "%d %d\n", n, m }' "$work/bridged.out"
}
read -r steady_n steady_peak < <(window "$WARM_S" "$storm_at")
read -r storm_n storm_peak < <(window "$storm_at" $((storm_at + STORM_S)))
cpu_s() { awk "BEGIN { printf \"%.3f\", ($2 - $1) / $ticks_per_s }"; }
echo "| $BRIDGE_SERVERS servers in $racks racks, reports every 10 s | seconds | messages across the bridge | per second (mean) | busiest second | site gateway CPU s | site CPU ms per bridged message | pod gateway CPU s |"
echo "|---|---|---|---|---|---|---|---|"
for phase in steady storm; do
  if [ "$phase" = steady ]; then n=$steady_n; peak=$steady_peak; s=$STEADY_S; a=$c_steady0; b=$c_storm0; pa=$p_steady0; pb=$p_storm0
  else n=$storm_n; peak=$storm_peak; s=$STORM_S; a=$c_storm0; b=$c_storm1; pa=$p_storm0; pb=$p_storm1; fi
  echo "| $phase | $s | $n | $(awk "BEGIN { printf \"%.1f\", $n / $s }") | $peak | $(cpu_s "$a" "$b") |" \
    "$(awk "BEGIN { printf \"%.3f\", ($n > 0 ? ($b - $a) / $ticks_per_s * 1000 / $n : 0) }") | $(cpu_s "$pa" "$pb") |"
done
echo
echo "site gateway: $((site_rss / 1024)) MB resident holding this pod's $racks racks;" \
  "pod gateway: $((pod_rss / 1024)) MB resident with $BRIDGE_SERVERS servers"
