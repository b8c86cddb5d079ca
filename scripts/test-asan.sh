#!/usr/bin/env bash
# The whole suite built with AddressSanitizer and UndefinedBehaviorSanitizer (build-asan/).
set -euo pipefail
cd "$(dirname "$0")/.."
# The federation fault tests (two 30-s outages) run in the plain suite only: they drive the same
# code as the faster tests, and would add a minute or more here.
# -O1 with line tables only: the sanitizers' reports keep their file and line, and the build takes
# a good part less time than -O2 -g; the benchmark tools, which no test runs, are left out.
CTEST_ARGS=${CTEST_ARGS:--E "FederationFaultTest"} BUILD_DIR=build-asan BUILD_TYPE=RelWithDebInfo \
  exec scripts/test.sh -DDCTWIN_ASAN=ON "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1" -DDCTWIN_BUILD_BENCH_TOOLS=OFF
