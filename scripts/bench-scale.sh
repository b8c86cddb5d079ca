#!/usr/bin/env bash
# The site-scale benchmark (issue "Flat cost at site scale"): each figure at three sizes, and the
# ratio of the largest to the smallest. A benchmark, not a test: it measures, prints, and asserts
# nothing. The gateway is pinned to core 1, the broker and the load to core 0.
#
#   scripts/bench-scale.sh
#   SIZES="1000 2500 5000" scripts/bench-scale.sh    # a quicker look
#   BASELINE=/path/to/old/dctwin-gateway scripts/bench-scale.sh   # the same against another build
#
# 1. Site gateway CPU per rack-health message, in a storm where every rack turns critical and
#    then ok again (dctwin-sitestorm), at SIZES racks (default 2500 10000 25000).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh >/dev/null
source scripts/lib.sh

SIZES=${SIZES:-2500 10000 25000}
GATEWAY=${BASELINE:-build/gateway/dctwin-gateway}

work=$(mktemp -d -t dctwin-benchscale.XXXXXX)
chmod 755 "$work"
pids=()
cleanup() { kill "${pids[@]}" $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

echo "machine:   $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GB"
echo "gateway:   $GATEWAY"
echo

# site_storm RACKS: a fresh broker and site gateway; prints the storm's "result" line.
site_storm() {
  local racks=$1 dir="$work/site-$1" port mport
  mkdir -p "$dir"
  port=$(free_port); mport=$(free_port)
  start_mosquitto "$dir" "$port" "max_queued_messages 0"
  taskset -a -p -c 0 "$(pgrep -n -f "mosquitto -c $dir/mosquitto.conf")" > /dev/null
  printf '[gateway]\nid = "site"\nrole = "site"\n[metrics]\nlisten = "127.0.0.1:%s"\n' "$mport" > "$dir/site.toml"
  taskset -c 1 "$GATEWAY" --config "$dir/site.toml" --broker "tcp://127.0.0.1:$port" --state "$dir/site.db" \
    > "$dir/site.log" 2>&1 &
  local gw=$!
  pids+=("$gw")
  for _ in $(seq 200); do grep -q ' ready' "$dir/site.log" && break; sleep 0.05; done
  taskset -c 0 build/tools/dctwin-sitestorm --broker "tcp://127.0.0.1:$port" --racks "$racks" --gateway-pid "$gw" \
    > "$dir/storm.out" 2>&1 || { echo "the storm at $racks racks failed:" >&2; cat "$dir/storm.out" >&2; }
  kill -TERM "$gw" 2>/dev/null; wait "$gw" 2>/dev/null || true
  kill "$(pgrep -n -f "mosquitto -c $dir/mosquitto.conf")" 2>/dev/null || true
  grep '^result' "$dir/storm.out" || echo "result racks=$racks us_per_message=nan"
}

field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

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
