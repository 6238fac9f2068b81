#!/usr/bin/env bash
# Installs stheno into a temporary prefix and builds and runs a separate consumer project
# against it with find_package(stheno).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake -S . -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTHENO_BUILD_TESTS=OFF \
  -DSTHENO_BUILD_BENCHMARKS=OFF -DSTHENO_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$work/build"
cmake --install "$work/build" --prefix "$work/prefix" >/dev/null
cmake -S tests/consumer -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer"
"$work/consumer/consumer"  # found through the RPATH CMake gives imported targets
echo "check-install: a separate project built and ran against the installed stheno"
