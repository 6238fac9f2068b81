#!/usr/bin/env bash
# Builds everything and runs the whole test suite. Usage: scripts/test.sh [build-dir] [extra cmake args...]
# STHENO_TEST_EXCLUDE, when set, is a ctest -E pattern of tests to leave out.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/release}
shift || true
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTHENO_BUILD_TESTS=ON \
  -DSTHENO_BUILD_EXAMPLES=ON -DSTHENO_BUILD_BENCHMARKS=ON "$@" >/dev/null
cmake --build "$build"
ctest --test-dir "$build" --output-on-failure -j 2 ${STHENO_TEST_EXCLUDE:+-E "$STHENO_TEST_EXCLUDE"}
