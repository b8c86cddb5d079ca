#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (ASan+UBSan) and runs each for SECONDS (default 60),
# JOBS at a time (default 2), starting from the seed corpus in tests/fuzz/corpus/. New inputs go
# to a scratch corpus, not into the repository; crashes are kept under build-fuzz/findings/.
#   scripts/fuzz.sh                     # every target, 60 s each
#   SECONDS_EACH=600 scripts/fuzz.sh router collectd
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
command -v clang++ >/dev/null || { sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo; $sudo apt-get install -y -qq clang >/dev/null; }
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DDCTWIN_FUZZ=ON >/dev/null
targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(native_report provisioning collectd line_protocol router twin_state)
cmake --build build-fuzz --target $(printf 'fuzz_%s ' "${targets[@]}") >/dev/null
SECONDS_EACH=${SECONDS_EACH:-60}
JOBS=${JOBS:-2}
mkdir -p build-fuzz/findings
run() {
  local t=$1 work=build-fuzz/corpus/$1
  mkdir -p "$work" "build-fuzz/findings/$t"
  cp -n tests/fuzz/corpus/"$t"/* "$work"/ 2>/dev/null || true
  build-fuzz/tests/fuzz/fuzz_"$t" "$work" -max_total_time="$SECONDS_EACH" -max_len=4096 -timeout=10 \
    -artifact_prefix="build-fuzz/findings/$t/" -print_final_stats=1 > "build-fuzz/fuzz_$t.log" 2>&1 || true
  local execs=$(grep -ao 'stat::number_of_executed_units: *[0-9]*' "build-fuzz/fuzz_$t.log" | grep -o '[0-9]*$')
  local found=$(ls "build-fuzz/findings/$t" | wc -l)
  echo "$t: ${execs:-?} executions in ${SECONDS_EACH} s, corpus $(ls "$work" | wc -l) inputs, findings: $found"
}
for t in "${targets[@]}"; do
  run "$t" &
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
done
wait
