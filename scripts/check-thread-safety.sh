#!/usr/bin/env bash
# Builds the gateway and its tools with clang and -Wthread-safety -Werror: a member marked
# GUARDED_BY read without its lock, or a REQUIRES function called without it, fails the build.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh
BUILD_DIR=${BUILD_DIR:-build-clang}
CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Debug -DDCTWIN_WERROR=ON >/dev/null
cmake --build "$BUILD_DIR" --parallel "$(nproc)" --target dctwin-gateway dctwinctl dctwin_unit_tests
echo "thread-safety: clean"
