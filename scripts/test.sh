#!/usr/bin/env bash
# The whole test suite: installs what is missing, builds, runs every test with ctest.
# Unit tests use plain calls; integration tests start their own mosquitto on a free loopback
# port and drive the real gateway binary.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
scripts/build.sh "$@"
# playwright-core (and MQTT.js) for the browser tests, pinned by hmi/package-lock.json.
if [ ! -d hmi/node_modules/playwright-core ] || [ hmi/package-lock.json -nt hmi/node_modules/.package-lock.json ]; then
  (cd hmi && npm ci --no-audit --no-fund --loglevel=error)
fi
cd "${BUILD_DIR:-build}"
# CTEST_ARGS: more ctest arguments (the sanitizer stages leave out what they add nothing to).
ctest --output-on-failure --timeout 300 -j 2 ${CTEST_ARGS:-}
