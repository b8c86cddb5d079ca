#!/usr/bin/env bash
# Two pods and a site on this machine: a site broker, two pod brokers bridged to it (MQTT 5,
# QoS 1, persistent), a pod gateway per pod, the site gateway, and dctwin-sim driving both pods
# (pod 1: racks r01-r04, pod 2: r05-r08). Prints the site's operators' page and, every few
# seconds, what the site sees. DEMO_SECONDS (default 90) long.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh >/dev/null
source scripts/lib.sh
DEMO_SECONDS=${DEMO_SECONDS:-90}
work=$(mktemp -d -t dctwin-federation.XXXXXX)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

site=$(free_port); ws=$(free_port); http=$(free_port)
mkdir -p "$work/site"
start_mosquitto "$work/site" "$site" "listener $ws 127.0.0.1
protocol websockets
max_queued_messages 100000"
for p in 1 2; do
  port=$(free_port)
  eval "pod${p}_port=$port"
  mkdir -p "$work/pod$p"
  bridge="max_queued_messages 100000
connection pod$p
address 127.0.0.1:$site
bridge_protocol_version mqttv50
cleansession false
remote_clientid pod$p-bridge
restart_timeout 1 5
notification_topic dctwin/gateway/pod$p/bridge
$(sed -n 's/^topic /topic /p' config/federation/pod-mosquitto.conf)"
  start_mosquitto "$work/pod$p" "$port" "$bridge"
done

gateway() {  # id role port
  cat > "$work/$1.toml" <<TOML
[gateway]
id = "$1"
role = "$2"
stats_interval_s = 2
[metrics]
listen = "${4:-}"
[hmi]
broker_ws_url = "ws://127.0.0.1:$ws"
[model]
heartbeat_timeout_s = 6
TOML
  build/gateway/dctwin-gateway --config "$work/$1.toml" --broker "tcp://127.0.0.1:$3" --state "$work/$1.db" \
    > "$work/$1.log" 2>&1 &
}
gateway site site "$site" "127.0.0.1:$http"
gateway pod1 pod "$pod1_port"
gateway pod2 pod "$pod2_port"
for id in site pod1 pod2; do
  mosquitto_sub -p "$site" -t "dctwin/gateway/$id/status" -C 1 -W 20 >/dev/null
done
echo "site broker 127.0.0.1:$site, pods 127.0.0.1:$pod1_port and 127.0.0.1:$pod2_port"
echo "operators' page of the site: http://127.0.0.1:$http/ (sign in with empty fields)"

build/tools/dctwin-sim --broker "tcp://127.0.0.1:$pod1_port" --racks 4 --servers-per-rack 10 --interval 2 \
  --duration "$DEMO_SECONDS" --scenario "10 overheat r01-s03; 20 power-sag 2; 40 tor-die r03; 70 recover-all" \
  > "$work/sim1.log" 2>&1 &
build/tools/dctwin-sim --broker "tcp://127.0.0.1:$pod2_port" --racks 4 --first-rack 5 --servers-per-rack 10 \
  --interval 2 --duration "$DEMO_SECONDS" --scenario "20 power-sag 6; 50 disk-fail r07-s02; 70 recover-all" \
  > "$work/sim2.log" 2>&1 &

ask() { mosquitto_rr -V 5 -p "$site" -t "dctwin/query/$1" -e dctwin/reply/demo -m '' -W 3 2>/dev/null || echo '{}'; }
end=$((SECONDS + DEMO_SECONDS))
while [ $SECONDS -lt $end ]; do
  sleep 5
  echo "--- t=$((DEMO_SECONDS - (end - SECONDS))) s"
  echo "site health:    $(mosquitto_sub -p "$site" -t dctwin/health/datacenter/dc1 -C 1 -W 2 2>/dev/null | cut -c1-160)"
  echo "unhealthy racks: $(ask unhealthy-racks | cut -c1-200)"
done
