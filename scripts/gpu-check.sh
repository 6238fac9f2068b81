#!/usr/bin/env bash
# The CUDA backend on a machine with an NVIDIA GPU: builds with CUDA, runs the comparison suite
# on the GPU, trains the default MLP and the CNN for one epoch on --device cuda and on the host
# (accuracies side by side), and runs W1-W3 on CUDA with samples/s, launches per step and the
# fraction of the GPU's peak FLOP/s and memory bandwidth they reach (bench/gpu_report.py).
# Needs nothing from the network. Without a GPU it says so and stops with status 77.
# Usage: scripts/gpu-check.sh [build-dir]
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build/cuda}

echo "== build with CUDA ($build)"
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DSTHENO_CUDA=ON -DSTHENO_BUILD_TESTS=ON \
  -DSTHENO_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" --target stheno_tests stheno-cli stheno_workloads

echo "== is there a GPU?"
# The CUDA run of the test binary exits 77 at once, saying why, where cuda:0 cannot start.
status=0
STHENO_TEST_DEVICE=cuda "$build/tests/stheno_tests" --gtest_filter=Devices.ParseAndPrint >"$build/gpu-probe.txt" 2>&1 || status=$?
if [ "$status" -eq 77 ]; then
  grep "^skipped:" "$build/gpu-probe.txt"
  echo "gpu-check: no usable NVIDIA GPU here; nothing more to check"
  exit 77
fi
[ "$status" -eq 0 ] || { cat "$build/gpu-probe.txt"; exit "$status"; }
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader

echo "== comparison suite on CUDA (forward and gradient of every op against the host)"
ctest --test-dir "$build" -R '^cuda\.backends$' --output-on-failure

echo "== one epoch on cuda and on the host"
report() { /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin); print(f"{r[\"device\"]:>8}: test accuracy {r[\"test_accuracy\"]:.4f}, {r[\"train_seconds_per_epoch\"]:.2f} s/epoch, allocations/step {r[\"allocations_per_step\"]}")'; }
for model in "--model mlp" "--model cnn"; do
  echo "-- $model"
  for device in cuda cpu; do
    # shellcheck disable=SC2086
    "$build/apps/stheno" train $model --device "$device" --epochs 1 --json --plot=false \
      --out "$(mktemp -d)" | tail -1 | report
  done
done

echo "== W1-W3 on CUDA"
for w in W1 W2 W3; do
  "$build/bench/stheno_workloads" --workload "$w" --device cuda | tail -1 |
    /usr/bin/python3 bench/gpu_report.py "$w"
done
