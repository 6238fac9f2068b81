#!/usr/bin/env bash
# Installs stheno into a temporary prefix, runs the installed command from there (it must find
# its library through its relative run path), and builds and runs a separate consumer project
# against it with find_package(stheno).
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake -S . -B "$work/build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTHENO_BUILD_TESTS=OFF \
  -DSTHENO_BUILD_BENCHMARKS=OFF -DSTHENO_BUILD_EXAMPLES=OFF >/dev/null
cmake --build "$work/build"
cmake --install "$work/build" --prefix "$work/prefix" >/dev/null
# No LD_LIBRARY_PATH: the command must find lib/ through $ORIGIN on its own.
env -u LD_LIBRARY_PATH "$work/prefix/bin/stheno" train --help >/dev/null
env -u LD_LIBRARY_PATH "$work/prefix/bin/stheno" train --model char-lstm --text README.md --steps 3 --seq 8 --batch 4 \
  --sample 8 --out "$work/run" >/dev/null
test -s "$work/run/char-lstm.safetensors"
if [ -d /usr/share/datasets/fashion-mnist ]; then
  env -u LD_LIBRARY_PATH "$work/prefix/bin/stheno" train --epochs 1 --train-limit 640 --hidden 16 --plot=false \
    --out "$work/run" >/dev/null
  test -s "$work/run/model.safetensors"
fi
cmake -S tests/consumer -B "$work/consumer" -G Ninja -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/consumer"
"$work/consumer/consumer"  # found through the RPATH CMake gives imported targets
echo "check-install: the installed stheno command trained a model, and a separate project built and ran against the installed stheno"
