#!/usr/bin/env bash
# The desired state's benchmark (issue "Control"): a rack-wide change of 40 servers, asked and
# answered over MQTT 5 (target: at most 100 ms), against a bare echo client through the same
# broker; and what 1,000 servers' state reports cost the gateway against the same servers' metric
# reports (target: at most 10 % more CPU). One run, one machine: the ratios are the figures.
#   scripts/bench-control.sh
#   FORMAT=collectd COLLECTD_VALUES=20 SERVERS=1000 PERIOD=1 SECONDS_PER_PHASE=10 scripts/bench-control.sh
# PERIOD is 1 s rather than 10 s so that each phase has enough reports to measure; the figure is a
# ratio per report, which the period does not change. Three phases (idle, metric reports alone,
# state reports alone) alternate three times; the figures are the medians, less the idle phase.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
BUILD_DIR=${BUILD_DIR:-build}
[ -x "$BUILD_DIR/tools/dctwin-controlbench" ] || scripts/build.sh >/dev/null
bench_setup control
cat > "$work/dctwin.toml" <<CONF
[gateway]
stats_interval_s = 1
[metrics]
listen = ""
[model]
heartbeat_timeout_s = 3600
max_messages_per_s = 0
[control]
ack_timeout_s = 86400
max_changes_per_min = 10000000
[[control.keys]]
name = "power_cap_w"
type = "number"
min = 100
max = 1000
[[control.keys]]
name = "drain"
type = "bool"
[[control.keys]]
name = "fan_profile"
type = "string"
values = ["quiet", "balanced", "max"]
CONF
"$BUILD_DIR/gateway/dctwin-gateway" --config "$work/dctwin.toml" --broker "$uri" --state "$work/state.db" \
  --gateway-id bench > "$work/gateway.log" 2>&1 &
gw=$!
for _ in $(seq 100); do grep -q "subscribed to" "$work/gateway.log" 2>/dev/null && break; sleep 0.1; done
# PERF=1: perf record -g of the gateway over the whole run, to perf.data in the current directory.
if [ "${PERF:-0}" = 1 ]; then perf record -g -o "$OLDPWD/perf.data" -p "$gw" > /dev/null 2>&1 & fi
"$BUILD_DIR/tools/dctwin-controlbench" --broker "$uri" --gateway-pid "$gw" --servers "${SERVERS:-1000}" \
  --period "${PERIOD:-1}" --seconds "${SECONDS_PER_PHASE:-10}" --changes "${CHANGES:-50}" --format "${FORMAT:-native}" \
  --collectd-values "${COLLECTD_VALUES:-20}" | tee "$work/result.out"
eval "$(grep '^result ' "$work/result.out" | sed 's/^result //')"
echo
echo "rack-wide change of $change_servers servers: p50 $change_p50_ms ms, p99 $change_p99_ms ms (target <= 100 ms);" \
  "bare echo through the same broker: p50 $echo_p50_ms ms, p99 $echo_p99_ms ms"
echo "gateway CPU above idle ($idle_cpu_s s a phase) with $format metric reports: metrics $metrics_cpu_s s ($metric_us_per_report us a report)," \
  "state reports $(python3 -c "print(f'{$metrics_and_state_cpu_s - $metrics_cpu_s:.2f}')") s ($state_us_per_report us a report):" \
  "the state reports add $(python3 -c "print(f'{100*$state_cpu_share:.1f}')") % (target <= 10 %)"
