#!/usr/bin/env bash
# Configures and builds dctwin into build/ (or $BUILD_DIR). Extra arguments go to cmake, e.g.
#   scripts/build.sh -DDCTWIN_ASAN=ON
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build}
# Developers and CI build with warnings as errors; a plain `cmake` build (users, packages) does not.
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=${BUILD_TYPE:-RelWithDebInfo} -DDCTWIN_WERROR=ON "$@" >/dev/null
cmake --build "$BUILD_DIR" --parallel "$(nproc)"
