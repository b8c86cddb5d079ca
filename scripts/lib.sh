# Shared by the scripts that start their own broker (sourced, not run).

# A free TCP port on the loopback interface.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# The limits of the shipped broker settings (config/mosquitto/dctwin.conf): every broker the
# project starts runs with them.
shipped_broker_limits() {
  grep -E '^(set_tcp_nodelay|max_queued_messages|max_queued_bytes|max_inflight_messages|queue_qos0_messages|sys_interval) ' \
    "$(dirname "${BASH_SOURCE[0]}")/../config/mosquitto/dctwin.conf"
}

# start_mosquitto DIR PORT [extra config lines]: a mosquitto on 127.0.0.1:PORT in the background,
# with the shipped limits (extra lines may override them), logging to DIR/mosquitto.log; returns
# once it accepts connections.
start_mosquitto() {
  local dir=$1 port=$2 extra=${3:-}
  printf 'listener %s 127.0.0.1\nallow_anonymous true\n%s\n%s\n' "$port" "$(shipped_broker_limits)" "$extra" > "$dir/mosquitto.conf"
  mosquitto -c "$dir/mosquitto.conf" > "$dir/mosquitto.log" 2>&1 &
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "mosquitto did not start on port $port; see $dir/mosquitto.log" >&2
  return 1
}

# For the benchmark scripts (bench.sh, profile-ingest.sh).
#
# bench_setup NAME: a work directory ($work), removed at exit after every background job is
# stopped; a free broker port ($port, $uri) and one for the gateway's metrics ($metrics_port); a
# mosquitto there that queues without limit, QoS 0 included, for persistent sessions (what the
# drain measurements need).
bench_setup() {
  work=$(mktemp -d -t "dctwin-$1.XXXXXX")
  chmod 755 "$work"
  port=$(free_port)
  uri="tcp://127.0.0.1:$port"
  metrics_port=$(free_port)
  trap 'kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"' EXIT
  start_mosquitto "$work" "$port" "max_queued_messages 0
queue_qos0_messages true"
}

# bench_gateway_config: $work/dctwin.toml for a gateway under measurement: stats every 0.2 s,
# broker.ingest_connections $INGEST, gateway.shards ${SHARDS:-0}, metrics on $metrics_port, no
# silence for an hour, EXTRA_CONFIG appended when set, and flap_count = 0 (latency probes open and resolve the same incident
# again and again, which flap detection would rightly hold open, leaving a handful of samples).
bench_gateway_config() {
  printf '[gateway]\nstats_interval_s = 0.2\nshards = %s\n[broker]\ningest_connections = %s\n[model]\nheartbeat_timeout_s = 3600\nflap_count = 0\n[metrics]\nlisten = "127.0.0.1:%s"\n' \
    "${SHARDS:-0}" "$INGEST" "$metrics_port" > "$work/dctwin.toml"
  # EXTRA_CONFIG: a file appended to it (more [[rules]], say).
  if [ -n "${EXTRA_CONFIG:-}" ]; then cat "$EXTRA_CONFIG" >> "$work/dctwin.toml"; fi
}

# loadgen ARGS...: dctwin-loadgen against $uri, reading the stats of gateway "bench"; sets the
# variables of its "result" line (published, applied, kept_up, p50_ms, ...). Its output stays in
# $work/loadgen.out.
loadgen() {
  build/tools/dctwin-loadgen --broker "$uri" --gateway-id bench "$@" > "$work/loadgen.out" 2>&1 || {
    cat "$work/loadgen.out" >&2
    return 1
  }
  eval "$(grep '^result ' "$work/loadgen.out" | sed 's/^result //')"
}
