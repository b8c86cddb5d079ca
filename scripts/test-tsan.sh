#!/usr/bin/env bash
# The whole suite built with ThreadSanitizer (build-tsan/). tests/tsan.supp silences races inside
# the uninstrumented Paho libraries only.
#
# Built with clang, so this build also checks the lock annotations (-Wthread-safety, an error in
# developer and CI builds: a member marked GUARDED_BY read without its lock fails the build), as
# scripts/check-thread-safety.sh does on its own; the plain suite is built with GCC.
set -euo pipefail
cd "$(dirname "$0")/.."
# The browser and the install layout exercise no thread of ours that the rest does not; the
# federation fault tests (two 30-s outages) drive the same threads as the faster federation tests.
# -O1 with line tables only, and no benchmark tools: see scripts/test-asan.sh.
CC=clang CXX=clang++ CTEST_ARGS=${CTEST_ARGS:--E "hmi_browser|install_layout|FederationFaultTest"} \
  BUILD_DIR=build-tsan BUILD_TYPE=RelWithDebInfo \
  exec scripts/test.sh -DDCTWIN_TSAN=ON "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" -DDCTWIN_BUILD_BENCH_TOOLS=OFF
