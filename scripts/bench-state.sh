#!/usr/bin/env bash
# State benchmark: at each size of SIZES, a state database of that many commissioned servers
# with full 15-minute windows (METRICS metrics at 10 s, VALUES collector or constant; see
# dctwin-statebench), then a gateway started on it: the time from start to READY, the restore
# time it logs, and its resident memory per twin (minus that of a gateway started on an empty
# database, in the same run), and the floor for that memory on this machine: the time to
# allocate and write as much on as many threads as the restore has lanes. The gateway runs with
# the heap tunable its systemd unit sets (GLIBC_TUNABLES= turns it off). Prints figures, asserts
# nothing.
#   scripts/bench-state.sh                          # 100,000 and 1,000,000 servers, 6 metrics
#   SIZES=10000 METRICS=8 VALUES=constant scripts/bench-state.sh
#   DB_DIR=/var/tmp/statebench scripts/bench-state.sh  # keeps the databases there, and reuses them
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh >/dev/null

SIZES=${SIZES:-100000 1000000}
METRICS=${METRICS:-6}
VALUES=${VALUES:-collector}
work=$(mktemp -d -t dctwin-statebench.XXXXXX)
cleanup() { kill $(jobs -p) 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

source scripts/lib.sh
port=$(free_port)
start_mosquitto "$work" "$port"

# Starts a gateway on $1 and waits for READY; prints "<seconds to READY> <RSS KiB> <restore line>".
run_gateway() {
  local db=$1 log=$work/gateway.log
  local start ready gw
  : > "$log"  # before the gateway opens it: the wait below reads it at once
  start=$(date +%s.%N)
  GLIBC_TUNABLES=${GLIBC_TUNABLES-glibc.malloc.hugetlb=1} build/gateway/dctwin-gateway --broker "tcp://127.0.0.1:$port" --state "$db" --gateway-id statebench > "$log" 2>&1 &
  gw=$!
  until grep -q ' ready' "$log"; do
    kill -0 $gw 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.01
  done
  ready=$(date +%s.%N)
  echo "$(echo "$ready - $start" | bc) $(ps -o rss= -p $gw) $(grep -o 'restored.*' "$log" | head -1)"
  grep -o 'restore took.*' "$log" >&2 || true
  kill -TERM $gw
  wait $gw || true
}

read -r _ empty_kb _ <<< "$(run_gateway "$work/empty.db")"
echo "gateway on an empty database: $((empty_kb / 1024)) MiB resident"
for n in $SIZES; do
  if [[ -n ${DB_DIR:-} ]]; then
    mkdir -p "$DB_DIR"
    db=$DB_DIR/state-$n-$METRICS-$VALUES.db
  else
    db=$work/state.db
    rm -f "$db"*
  fi
  [[ -f $db ]] || build/tools/dctwin-statebench --state "$db" --servers "$n" --metrics "$METRICS" --values "$VALUES"
  read -r ready_s rss_kb restored <<< "$(run_gateway "$db")"
  echo "== $n servers: start to READY $ready_s s ($restored)"
  echo "== $n servers: resident $((rss_kb / 1024)) MiB, $(( (rss_kb - empty_kb) * 1024 / n )) bytes per server twin beyond the empty gateway"
  # The floor: the same memory, allocated and written by as many threads as the restore's lanes.
  build/tools/dctwin-statebench --memory-floor-mib $(( (rss_kb - empty_kb) / 1024 ))
done
