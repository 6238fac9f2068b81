#!/usr/bin/env bash
# Installs the dependencies, builds stheno and runs its main program.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release --target stheno-tour
build/release/examples/stheno-tour "$@"
