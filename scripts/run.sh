#!/usr/bin/env bash
# Runs the gateway in the foreground: installs what is missing, builds, and starts a local
# mosquitto on 127.0.0.1:1883 when no broker is configured (no --config/--broker given) and
# nothing listens there. Arguments go to dctwin-gateway, e.g.
#   scripts/run.sh --log-level debug
#   scripts/run.sh --config config/dctwin.toml
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh

configured=no
for arg in "$@"; do
  case "$arg" in --config|--config=*|--broker|--broker=*) configured=yes ;; esac
done

broker_pid=""
cleanup() { [ -n "$broker_pid" ] && kill "$broker_pid" 2>/dev/null || true; }
trap cleanup EXIT

if [ "$configured" = no ] && ! (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null; then
  conf=$(mktemp -t dctwin-mosquitto.XXXXXX.conf)
  # 9001: MQTT over WebSockets for the operators' page at http://127.0.0.1:9464/
  # The shipped broker's limits (config/mosquitto/dctwin.conf), without its users and ACL.
  { printf 'listener 1883 127.0.0.1\nallow_anonymous true\n'
    grep -E '^(set_tcp_nodelay|max_queued_messages|max_queued_bytes|max_inflight_messages|queue_qos0_messages|sys_interval) ' \
      "$(dirname "$0")/../config/mosquitto/dctwin.conf"
    printf 'listener 9001 127.0.0.1\nprotocol websockets\n'; } > "$conf"
  mosquitto -c "$conf" &
  broker_pid=$!
  for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/1883) 2>/dev/null && break; sleep 0.1; done
  echo "started mosquitto on 127.0.0.1:1883 and ws://127.0.0.1:9001 (pid $broker_pid)" >&2
  echo "operators' page: http://127.0.0.1:9464/ (sign in with empty fields)" >&2
fi

set +e
build/gateway/dctwin-gateway "$@" &
gw=$!
trap 'kill -TERM $gw 2>/dev/null' INT TERM
rc=0
while kill -0 "$gw" 2>/dev/null; do wait "$gw"; rc=$?; done
exit $rc
