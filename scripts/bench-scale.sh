#!/usr/bin/env bash
# The site-scale benchmark (issue "Flat cost at site scale"): each figure at three sizes, and the
# ratio of the largest to the smallest. A benchmark, not a test: it measures, prints, and asserts
# nothing. The gateway is pinned to core 1, the broker and the load to core 0.
#
#   scripts/bench-scale.sh
#   SIZES="1000 2500 5000" scripts/bench-scale.sh    # a quicker look
#   BASELINE=/path/to/old/dctwin-gateway scripts/bench-scale.sh   # the same against another build
#   FIGURES=2 scripts/bench-scale.sh                 # only figure 2
#
# 1. Site gateway CPU per rack-health message, in a storm where every rack turns critical and
#    then ok again (dctwin-sitestorm), at SIZES racks (default 2500 10000 25000).
# 2. The store writer's time per round (merge, incident desk, transactions, release: the stats'
#    store.round_ms_total / store.rounds) while 8 probe servers open and resolve disk incidents for
#    PROBE_S seconds, with INCIDENT_SIZES servers holding an open disk incident each (default
#    1000 10000 100000; with their rack and datacenter incidents), once the opens' backlog is out.
# 3. Gateway CPU per report when auto_commission puts every server into one default rack, with
#    RACK_SIZES servers (default 5000 20000 50000) each sending two reports (10,000 reports/s).
# 4. Alert p99 of 8 probe servers (publish to alert, as in bench.sh) with QUERY_OPEN servers
#    holding an open incident (default 100000), alone and while a client sends QUERY_RATE
#    P/query/incidents per second (default 1000, pages of QUERY_LIMIT, default 100); the ratio of the two, the answers'
#    latency and the gateway's resident set during the queries.
# 5. Alert p99 of 8 probe servers on one shard, alone and while HOT_SERVERS servers (default
#    20000) that all live on the other shard send HOT_RATE reports a second (default 15000) of
#    HOT_METRICS metrics each (default 200). Each costs its shard more than it costs the receive
#    thread, so the shard's mailbox of 8,192 fills while the receive thread keeps up (a flood
#    beyond what the receive thread takes would queue in the broker, ahead of the probes: a
#    different figure). The ratio of the two, and the hot shard's depth and shed reports. The
#    probes run in a process of their own (in the flood's process they would wait behind its
#    messages on Paho's one send thread), and the floor beside the same flood is measured too:
#    the same probes answered by a stand-in (dctwin-loadgen --echo) instead of the gateway.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh >/dev/null
source scripts/lib.sh

SIZES=${SIZES:-2500 10000 25000}
INCIDENT_SIZES=${INCIDENT_SIZES:-1000 10000 100000}
RACK_SIZES=${RACK_SIZES:-5000 20000 50000}
FIGURES=${FIGURES:-1 2 3 4 5}  # which figures to measure
QUERY_OPEN=${QUERY_OPEN:-100000}
QUERY_RATE=${QUERY_RATE:-1000}
QUERY_LIMIT=${QUERY_LIMIT:-100}  # incidents per answer
HOT_SERVERS=${HOT_SERVERS:-20000}
HOT_METRICS=${HOT_METRICS:-200}
HOT_RATE=${HOT_RATE:-15000}
PROBE_S=${PROBE_S:-20}
GATEWAY=${BASELINE:-build/gateway/dctwin-gateway}
GATEWAY_CORES=${GATEWAY_CORES:-1}  # where the gateway's threads may run (taskset -c)
GATEWAY_EXTRA=${GATEWAY_EXTRA:-}   # more TOML for the gateways of figures 2 and 4, e.g. $'[history]\nrollup_1m_days = 0'

work=$(mktemp -d -t dctwin-benchscale.XXXXXX)
chmod 755 "$work"
pids=()
# KEEP=1 keeps the work directory (the gateways' logs and the load generators' output) and says where.
cleanup() {
  kill "${pids[@]}" $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true
  # What a figure's subshell started (a figure runs in one: its pids are not in this shell's).
  pkill -f "$work" 2>/dev/null || true
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
ticks_per_s=$(getconf CLK_TCK)

echo "machine:   $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GB"
echo "gateway:   $GATEWAY"
echo

# start_pair DIR CONFIG: a fresh broker (core 0, queues without limit) and a gateway (core 1)
# with the TOML CONFIG, its metrics on a free port appended; sets $port and $gw, returns once the
# gateway is ready. stop_pair DIR stops both.
start_pair() {
  local dir=$1 mport
  mkdir -p "$dir"
  port=$(free_port); mport=$(free_port)
  start_mosquitto "$dir" "$port" "max_queued_messages 0
queue_qos0_messages true"
  taskset -a -p -c 0 "$(pgrep -n -f "mosquitto -c $dir/mosquitto.conf")" > /dev/null
  printf '%s\n[metrics]\nlisten = "127.0.0.1:%s"\n' "$2" "$mport" > "$dir/gw.toml"
  taskset -c "$GATEWAY_CORES" "$GATEWAY" --config "$dir/gw.toml" --broker "tcp://127.0.0.1:$port" --state "$dir/gw.db" \
    > "$dir/gw.log" 2>&1 &
  gw=$!
  pids+=("$gw")
  for _ in $(seq 200); do grep -q ' ready' "$dir/gw.log" && break; sleep 0.05; done
}
stop_pair() {
  kill -TERM "$gw" 2>/dev/null; wait "$gw" 2>/dev/null || true
  kill "$(pgrep -n -f "mosquitto -c $1/mosquitto.conf")" 2>/dev/null || true
}

# site_storm RACKS: a fresh broker and site gateway; prints the storm's "result" line.
site_storm() {
  local racks=$1 dir="$work/site-$1"
  start_pair "$dir" '[gateway]
id = "site"
role = "site"'
  taskset -c 0 build/tools/dctwin-sitestorm --broker "tcp://127.0.0.1:$port" --racks "$racks" --gateway-pid "$gw" \
    > "$dir/storm.out" 2>&1 || { echo "the storm at $racks racks failed:" >&2; cat "$dir/storm.out" >&2; }
  stop_pair "$dir"
  grep '^result' "$dir/storm.out" || echo "result racks=$racks us_per_message=nan"
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

if [[ " $FIGURES " == *" 1 "* ]]; then
echo "1. site gateway CPU per rack-health message, every rack critical then ok [ratio <= 1.5]"
first=""; last=""
for n in $SIZES; do
  line=$(site_storm "$n")
  us=$(echo "$line" | field us_per_message)
  printf '   %6s racks: %8s us per message, worked off in %s s, peak RSS %s MiB\n' "$n" "$us" \
    "$(echo "$line" | field worked_s)" "$(echo "$line" | field peak_mib)"
  [ -z "$first" ] && first=$us
  last=$us
done
echo "   ratio largest/smallest: $(python3 -c "print(f'{float(\"$last\")/float(\"$first\"):.2f}')" 2>/dev/null || echo nan)"
fi

# stats PORT ID: the gateway's latest stats document.
stats() {
  mosquitto_sub -h 127.0.0.1 -p "$1" -t "dctwin/gateway/$2/stats" -C 1 -W 10
}
# json FIELD.PATH: one number from the JSON on stdin.
json() { python3 -c "import json,sys; d=json.load(sys.stdin); [d:=d[k] for k in '$1'.split('.')]; print(d)"; }

# open_incidents N DIR: a fresh broker and gateway in DIR with N servers holding an open disk
# incident each, once the opens' backlog is out; sets $open.
open_incidents() {
  local n=$1 dir=$2
  start_pair "$dir" '[gateway]
id = "bench"
stats_interval_s = 0.5
max_servers = 2000000
[model]
heartbeat_timeout_s = 3600
flap_count = 0
'"$GATEWAY_EXTRA"
  local uri="tcp://127.0.0.1:$port"
  taskset -c 0 build/tools/dctwin-loadgen --broker "$uri" --gateway-id bench --servers "$n" --racks $(( (n + 39) / 40 )) \
    --rate 20000 --duration $(( n / 20000 + 2 )) --incident --probes 8 > "$dir/load.out" 2>&1
  # Every server's incident, and each rack's (all 40 of its servers have one): the racks'
  # incidents open after the servers' and change 40 records each, which must not fall into a
  # measured round.
  open=0
  for _ in $(seq 600); do
    open=$(stats "$port" bench | json open_incidents)
    [ "$open" -ge $(( n + n / 40 )) ] && break
    sleep 0.5
  done
  # The opens' backlog (alerts, records, health) goes out first: measured is the quiet gateway.
  for _ in $(seq 600); do
    [ "$(stats "$port" bench | json store.outbox)" = 0 ] && break
    sleep 0.5
  done
}

# writer_rounds N: a fresh broker and gateway with N open server incidents; prints
# "<open incidents> <mean round ms> <rounds>" for the probe phase.
writer_rounds() {
  local n=$1 dir="$work/desk-$1"
  open_incidents "$n" "$dir"
  local uri="tcp://127.0.0.1:$port"
  local before after
  before=$(stats "$port" bench)
  taskset -c 0 build/tools/dctwin-loadgen --broker "$uri" --gateway-id bench --probes 8 --probe-only \
    --duration "$PROBE_S" > "$dir/probe.out" 2>&1
  sleep 1
  after=$(stats "$port" bench)
  echo "$after" > "$dir/stats-after.json"
  python3 - "$before" "$after" "$open" <<'PY'
import json, sys
b, a = json.loads(sys.argv[1])["store"], json.loads(sys.argv[2])["store"]
rounds = a["rounds"] - b["rounds"]
ms = a["round_ms_total"] - b["round_ms_total"]
print(sys.argv[3], f"{ms / rounds:.3f}" if rounds else "nan", rounds)
PY
  stop_pair "$dir"
}

if [[ " $FIGURES " == *" 2 "* ]]; then
echo
echo "2. store writer time per round while probes open and resolve incidents, by open incidents [ratio <= 1.5]"
first=""; last=""
for n in $INCIDENT_SIZES; do
  read -r open ms rounds < <(writer_rounds "$n")
  printf '   %6s servers with an open incident (%s open in all): %s ms per round (%s rounds)\n' "$n" "$open" "$ms" "$rounds"
  [ -z "$first" ] && first=$ms
  last=$ms
done
echo "   ratio largest/smallest: $(python3 -c "print(f'{float(\"$last\")/float(\"$first\"):.2f}')" 2>/dev/null || echo nan)"
fi

# one_rack N: a fresh broker and gateway with auto_commission; N servers, two reports each;
# prints "<applied> <us per report>".
one_rack() {
  local n=$1 dir="$work/rack-$1"
  start_pair "$dir" '[gateway]
id = "bench"
stats_interval_s = 0.5
auto_commission = true
[model]
heartbeat_timeout_s = 3600'
  local t0 t1 applied
  t0=$(awk '{print $14 + $15}' "/proc/$gw/stat")
  taskset -c 0 build/tools/dctwin-loadgen --broker "tcp://127.0.0.1:$port" --gateway-id bench --servers "$n" \
    --rate 10000 --duration $(( 2 * n / 10000 )) --commission false > "$dir/load.out" 2>&1 || true
  t1=$(awk '{print $14 + $15}' "/proc/$gw/stat")
  applied=$(sed -n 's/.* applied=\([0-9]*\).*/\1/p' "$dir/load.out")
  echo "${applied:-0} $(python3 -c "print(f'{($t1 - $t0) / $ticks_per_s / max(1, ${applied:-0}) * 1e6:.1f}')")"
  stop_pair "$dir"
}

if [[ " $FIGURES " == *" 3 "* ]]; then
echo
echo "3. gateway CPU per report, auto_commission filling one default rack [ratio <= 1.5]"
first=""; last=""
for n in $RACK_SIZES; do
  read -r applied us < <(one_rack "$n")
  printf '   %6s servers in one rack: %s us per report (%s reports applied)\n' "$n" "$us" "$applied"
  [ -z "$first" ] && first=$us
  last=$us
done
echo "   ratio largest/smallest: $(python3 -c "print(f'{float(\"$last\")/float(\"$first\"):.2f}')" 2>/dev/null || echo nan)"
fi

# query_load: probes alone, then with the query client; prints
# "<open> <p99 alone> <p99 with queries> <asked/s> <answered> <asked> <answer p99 ms> <RSS MiB>".
query_load() {
  local dir="$work/query"
  open_incidents "$QUERY_OPEN" "$dir"
  local uri="tcp://127.0.0.1:$port" alone loaded asker rss
  # A first round of probes, not counted: the gateway may still be busy with what the opens left.
  taskset -c 0 build/tools/dctwin-loadgen --broker "$uri" --gateway-id bench --probes 8 --probe-only \
    --duration "$PROBE_S" > "$dir/warm.out" 2>&1
  taskset -c 0 build/tools/dctwin-loadgen --broker "$uri" --gateway-id bench --probes 8 --probe-only \
    --duration "$PROBE_S" > "$dir/alone.out" 2>&1
  alone=$(grep '^result' "$dir/alone.out" | field p99_ms)
  taskset -c 0 build/tools/dctwin-loadgen --broker "$uri" --ask "$QUERY_RATE" --ask-limit "$QUERY_LIMIT" --duration $(( PROBE_S + 4 )) \
    > "$dir/ask.out" 2>&1 &
  asker=$!
  sleep 2
  taskset -c 0 build/tools/dctwin-loadgen --broker "$uri" --gateway-id bench --probes 8 --probe-only \
    --duration "$PROBE_S" > "$dir/loaded.out" 2>&1
  rss=$(( $(awk '/VmRSS/{print $2}' "/proc/$gw/status") / 1024 ))
  wait "$asker" || true
  loaded=$(grep '^result' "$dir/loaded.out" | field p99_ms)
  local a; a=$(grep '^result' "$dir/ask.out")
  echo "$open ${alone:-nan} ${loaded:-nan} $(echo "$a" | field asked_per_s) $(echo "$a" | field answered) $(echo "$a" | field asked) $(echo "$a" | field answer_p99_ms) $rss"
  stop_pair "$dir"
}

if [[ " $FIGURES " == *" 4 "* ]]; then
echo
echo "4. alert p99 while a client sends $QUERY_RATE P/query/incidents per second (pages of $QUERY_LIMIT), $QUERY_OPEN open incidents [at most 2x]"
read -r open alone loaded per_s answered asked answer_p99 rss < <(query_load)
printf '   %s open; probe p99 alone %s ms, with the queries %s ms: ratio %s\n' "$open" "$alone" "$loaded" \
  "$(python3 -c "print(f'{float(\"$loaded\")/float(\"$alone\"):.2f}')" 2>/dev/null || echo nan)"
printf '   queries: %s/s asked, %s of %s answered, answer p99 %s ms; gateway resident %s MiB\n' "$per_s" "$answered" "$asked" \
  "$answer_p99" "$rss"
fi

# hot_shard: probes on shard 1 alone, then beside a flood of shard 0; prints
# "<p99 alone> <p99 beside the flood> <shard 0 depth during it> <shed> <probe timeouts>".
hot_shard() {
  local dir="$work/hot"
  start_pair "$dir" '[gateway]
id = "bench"
stats_interval_s = 0.5
shards = 2
mailbox_capacity = 8192
[model]
heartbeat_timeout_s = 3600
flap_count = 0'
  local uri="tcp://127.0.0.1:$port" alone loaded depth before after load=""
  # Commissioned, and each server's first wide report (new metrics; its health leaves "unknown")
  # made before anything is measured, at a rate the hot shard keeps up with: what is measured is
  # the steady flood, in which a report changes only samples.
  taskset -c 0 build/tools/dctwin-loadgen --broker "$uri" --gateway-id bench --servers "$HOT_SERVERS" --hot-shard 0 \
    --shards 2 --probes 8 --metrics "$HOT_METRICS" --duration $(( HOT_SERVERS / 1500 + 2 )) --rate 1500 \
    > "$dir/commission.out" 2>&1
  taskset -c 0 build/tools/dctwin-loadgen --broker "$uri" --gateway-id bench --hot-shard 0 --shards 2 --probes 8 \
    --probe-only --commission false --duration "$PROBE_S" > "$dir/alone.out" 2>&1
  alone=$(grep '^result' "$dir/alone.out" | field p99_ms)
  before=$(stats "$port" bench)
  # The flood, with the probes in a process of their own.
  flood() {
    taskset -c 0 build/tools/dctwin-loadgen --broker "$uri" --gateway-id bench --servers "$HOT_SERVERS" --hot-shard 0 \
      --shards 2 --probes 0 --commission false --metrics "$HOT_METRICS" --rate "$HOT_RATE" --duration $(( PROBE_S + 2 )) \
      > "$1" 2>&1 &
    load=$!
  }
  flood "$dir/loaded.out"
  taskset -c 0 build/tools/dctwin-loadgen --broker "$uri" --gateway-id bench --hot-shard 0 --shards 2 --probes 8 \
    --probe-only --commission false --duration "$PROBE_S" > "$dir/probes.out" 2>&1 &
  local probes=$!
  sleep $(( PROBE_S / 2 ))
  depth=$(stats "$port" bench | python3 -c "import json,sys; print(json.load(sys.stdin)['shards'][0]['depth'])" 2>/dev/null || echo nan)
  wait "$probes" || true
  wait "$load" || true
  after=$(stats "$port" bench)
  echo "$after" > "$dir/stats-after.json"
  loaded=$(grep '^result' "$dir/probes.out" | field p99_ms)
  # The floor beside the same flood: the probes answered by a stand-in under a prefix of its own.
  flood "$dir/floor-flood.out"
  taskset -c 0 build/tools/dctwin-loadgen --broker "$uri" --prefix bench-echo --echo --hot-shard 0 --shards 2 --probes 8 \
    --duration $(( PROBE_S + 5 )) > "$dir/echo.out" 2>&1 &
  local echo_pid=$!
  for _ in $(seq 100); do grep -q '^echo ready' "$dir/echo.out" && break; sleep 0.1; done
  taskset -c 0 build/tools/dctwin-loadgen --broker "$uri" --prefix bench-echo --hot-shard 0 --shards 2 --probes 8 \
    --probe-only --commission false --duration "$PROBE_S" > "$dir/floor.out" 2>&1 || true
  local floor
  floor=$(grep '^result' "$dir/floor.out" | field p99_ms)
  wait "$load" || true
  kill "$echo_pid" 2>/dev/null || true; wait "$echo_pid" 2>/dev/null || true
  local shed
  shed=$(python3 -c "import json,sys; b,a=json.loads(sys.argv[1]),json.loads(sys.argv[2]); print(sum(s.get('shed',0) for s in a['shards'])-sum(s.get('shed',0) for s in b['shards']))" "$before" "$after" 2>/dev/null || echo nan)
  # The gateway's own alert latency (from the MQTT callback to the broker's acknowledgement) over
  # the flood: the bucket its 99th percentile falls in.
  local inside
  inside=$(python3 -c "
import json,sys
b,a=json.loads(sys.argv[1])['outbound']['alert_latency'],json.loads(sys.argv[2])['outbound']['alert_latency']
w=[x-y for x,y in zip(a['within'],b['within'])]; n=a['count']-b['count']
print(next((f'{le*1000:g}' for le,c in zip(a['le_s'],w) if c>=0.99*n), 'inf'))" "$before" "$after" 2>/dev/null || echo nan)
  echo "${alone:-nan} ${loaded:-nan} $depth $shed $(grep '^result' "$dir/probes.out" | field latency_samples) $(grep '^result' "$dir/loaded.out" | field applied)/$(grep '^result' "$dir/loaded.out" | field published) $inside ${floor:-nan}"
  stop_pair "$dir"
}

if [[ " $FIGURES " == *" 5 "* ]]; then
echo
echo "5. alert p99 of probes on a quiet shard while the other shard's mailbox is full ($HOT_RATE reports a second of $HOT_METRICS metrics) [at most 2x]"
read -r alone loaded depth shed samples applied inside floor < <(hot_shard)
printf '   probe p99 alone %s ms, beside the flood %s ms (%s samples): ratio %s\n' "$alone" "$loaded" "$samples" \
  "$(python3 -c "print(f'{float(\"$loaded\")/float(\"$alone\"):.2f}')" 2>/dev/null || echo nan)"
printf '   floor beside the same flood (the probes answered by a stand-in, no gateway): p99 %s ms; the gateway beside the flood / that floor: %s\n' \
  "$floor" "$(python3 -c "print(f'{float(\"$loaded\")/float(\"$floor\"):.2f}')" 2>/dev/null || echo nan)"
printf '   hot shard depth %s of 8192 half-way, %s reports shed, applied/published %s\n' "$depth" "$shed" "$applied"
printf '   inside the gateway (MQTT callback to the broker acknowledging the alert) 99%% within %s ms\n' "$inside"
fi
