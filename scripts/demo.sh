#!/usr/bin/env bash
# The demo: a broker, the gateway and a simulated datacenter (4 racks x 10 servers in two rows, on
# two power feeds and two cooling units: config/inventory.example.json) that lives through a
# server overheating, a ToR switch degrading, a ToR switch dying, power feed A-12 tripping, cooling
# unit crah-2 failing (its racks heat up) and a failing disk, then recovers. A live view shows the site's health, the unhealthy racks and
# the incidents as they open and resolve. Ctrl-C ends it early.
#   scripts/demo.sh                 # about 90 s
#   DEMO_SECONDS=300 scripts/demo.sh
#   FORMAT=collectd scripts/demo.sh # the servers speak collectd's mqtt plugin format instead of JSON
# The gateway runs the shipped config/dctwin.toml (its rules cover both formats) with a short
# heartbeat so that a dead ToR switch shows within seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh >/dev/null

DEMO_SECONDS=${DEMO_SECONDS:-90}
FORMAT=${FORMAT:-native}
work=$(mktemp -d -t dctwin-demo.XXXXXX)
source scripts/lib.sh
port=$(free_port)
ws_port=$(free_port)
http_port=$(free_port)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT INT TERM

start_mosquitto "$work" "$port" "max_queued_messages 100000
listener $ws_port 127.0.0.1
protocol websockets"
sed -e 's/^id = .*/id = "demo"/' -e 's/^stats_interval_s = .*/stats_interval_s = 2/' \
  -e 's/^heartbeat_timeout_s = .*/heartbeat_timeout_s = 6/' -e "s/^listen = .*/listen = \"127.0.0.1:$http_port\"/" \
  -e "s|^broker_ws_url = .*|broker_ws_url = \"ws://127.0.0.1:$ws_port\"|" \
  -e "s|^# inventory = .*|inventory = \"$PWD/config/inventory.example.json\"|" \
  -e 's/^notify_hold_s = .*/notify_hold_s = 5/' \
  config/dctwin.toml > "$work/dctwin.toml"
build/gateway/dctwin-gateway --config "$work/dctwin.toml" --broker "tcp://127.0.0.1:$port" \
  --state "$work/state.db" > "$work/gateway.log" 2>&1 &
mosquitto_sub -p "$port" -v -t 'dctwin/alerts/#' > "$work/alerts.log" 2>/dev/null &
# The gateway subscribes on its first connect: wait for its online status before the servers talk.
mosquitto_sub -p "$port" -t dctwin/gateway/demo/status -C 1 -W 15 >/dev/null
echo "operators' page: http://127.0.0.1:$http_port/ (sign in with empty fields; it lives as long as the demo)"
build/tools/dctwin-sim --broker "tcp://127.0.0.1:$port" --inventory config/inventory.example.json --servers-per-rack 10 \
  --interval 2 --format "$FORMAT" --duration "$DEMO_SECONDS" --heat-rate 120 --scenario \
  "6 overheat r01-s03; 12 tor-degrade r02; 20 switch-fail sw-r03; 30 recover tor:sw-r03; 34 feed-trip A-12; 44 cooling-fail crah-2; 52 disk-fail r04-s07; 70 recover-all" \
  > "$work/sim.log" 2>&1 &
sim=$!

ask() { mosquitto_rr -V 5 -p "$port" -t "dctwin/query/$1" -e "demo/replies" -m '' -W 3 2>/dev/null || echo '{}'; }
while kill -0 $sim 2>/dev/null; do
  dc=$(ask datacenter)
  racks=$(ask unhealthy-racks)
  clear 2>/dev/null || echo "----"
  DC="$dc" RACKS="$racks" SIM="$(tail -n 6 "$work/sim.log")" python3 - "$work/alerts.log" <<'PY'
import json, os, sys, time
dc = json.loads(os.environ["DC"] or "{}")
racks = json.loads(os.environ["RACKS"] or "{}")
print(time.strftime("%H:%M:%S"), " dctwin demo   (scenario:", os.environ["SIM"].splitlines()[-1] if os.environ["SIM"] else "", ")")
print()
healthy = dc.get("healthy")
print("DATACENTER", dc.get("datacenter", "?"), ":", "HEALTHY" if healthy else "NOT HEALTHY", "-", dc.get("status", "?"))
for inc in dc.get("open", []):
    print("   datacenter incident:", inc["kind"], inc["severity"], "-", inc["summary"])
print()
print("UNHEALTHY RACKS")
for r in racks.get("racks", []):
    print("   %-4s %-26s since %s  (%d rack incident(s))" % (r["rack"], ",".join(r["kinds"]), time.strftime("%H:%M:%S", time.localtime(r["since"])), len(r.get("incidents", []))))
if not racks.get("racks"):
    print("   none")
print()
opened = {}
lines = open(sys.argv[1]).read().splitlines()
for line in lines:
    topic, _, payload = line.partition(" ")
    try:
        e = json.loads(payload)
    except ValueError:
        continue
    if e["state"] == "open":
        opened[e["id"]] = e
    else:
        opened.pop(e["id"], None)
by_level = {}
for e in opened.values():
    by_level.setdefault(e["level"], []).append(e)
print("OPEN INCIDENTS: %d server, %d rack, %d group (feed, cooling, switch), %d datacenter" % tuple(len(by_level.get(l, [])) for l in ("server", "rack", "group", "datacenter")))
print()
print("LATEST EVENTS")
for line in lines[-12:]:
    topic, _, payload = line.partition(" ")
    try:
        e = json.loads(payload)
    except ValueError:
        continue
    cause = ("  [caused by " + e["caused_by"] + "]") if e.get("caused_by") else ""
    print("   %-8s %-10s %-14s %-8s %s%s" % (e["state"], e["level"], e["subject"], e["kind"], e["summary"][:70], cause))
PY
  sleep 2
done
echo; echo "demo over; the gateway's log was:"; tail -n 5 "$work/gateway.log"
