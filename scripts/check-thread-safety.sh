#!/usr/bin/env bash
# Builds the gateway and its tools with clang and -Wthread-safety -Werror: a member marked
# GUARDED_BY read without its lock, or a REQUIRES function called without it, fails the build.
# The libraries are where the annotations are; TESTS=1 also builds the unit tests (a minute more,
# which CI's 30 minutes no longer have).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
BUILD_DIR=${BUILD_DIR:-build-clang}
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDCTWIN_WERROR=ON >/dev/null
targets=(dctwin-gateway dctwinctl dctwin-agent)
[ "${TESTS:-0}" = 1 ] && targets+=(dctwin_unit_tests)
cmake --build "$BUILD_DIR" --parallel "$(nproc)" --target "${targets[@]}"
echo "thread-safety: clean"
