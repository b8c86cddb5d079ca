#!/usr/bin/env bash
# The whole suite built with ThreadSanitizer (build-tsan/). tests/tsan.supp silences races inside
# the uninstrumented Paho libraries only.
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser and the install layout exercise no thread of ours that the rest does not; the
# federation fault tests (two 30-s outages) drive the same threads as the faster federation tests.
CTEST_ARGS=${CTEST_ARGS:--E "hmi_browser|install_layout|FederationFaultTest"} BUILD_DIR=build-tsan BUILD_TYPE=RelWithDebInfo \
  exec scripts/test.sh -DDCTWIN_TSAN=ON
