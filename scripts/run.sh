#!/usr/bin/env bash
# Installs the dependencies, builds stheno and runs the main job: `stheno train` on
# Fashion-MNIST (extra arguments go to stheno train).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build/release -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build/release --target stheno-cli
build/release/apps/stheno train "$@"
