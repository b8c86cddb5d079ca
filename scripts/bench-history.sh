#!/usr/bin/env bash
# The history's benchmark: a 1,000-row page of P/query/history from 10,000,000 rows (target: at
# most 50 ms), against the same pages from 100,000 rows measured in the same run, and the bytes a
# row costs on disk. Needs about 4 GB free in $DIR (default /var/tmp) and a few minutes.
#   scripts/bench-history.sh            ROWS=1000000 scripts/bench-history.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
[ -x "$BUILD_DIR/tools/dctwin-historybench" ] || scripts/build.sh >/dev/null
exec "$BUILD_DIR/tools/dctwin-historybench" --rows "${ROWS:-10000000}" --small "${SMALL:-100000}" --dir "${DIR:-/var/tmp}"
