#!/usr/bin/env bash
# Builds the fuzz targets with clang (libFuzzer, ASan, UBSan) in build/fuzz and runs each for a
# number of seconds (default 60) on a copy of its corpus, with its dictionary. Fails if a target
# finds a crash; the input is left in build/fuzz/crashes/<target>/, and once the bug is fixed it
# belongs in fuzz/corpus/<target>/, which every test run replays.
# Usage: scripts/fuzz.sh [seconds] [target...]   (targets: idx safetensors checkpoint text libsvm)
# FUZZ_SEED=N fixes libFuzzer's random seed, so that a run explores the same inputs every time
# (CI does this, so that a submission is not failed by a bug it did not touch; a longer run with
# a random seed, the default, is how new bugs are found).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then targets=(idx safetensors checkpoint text libsvm); fi
build=build/fuzz

CC=clang CXX=clang++ cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSTHENO_FUZZ=ON \
  -DSTHENO_BUILD_TESTS=OFF -DSTHENO_BUILD_EXAMPLES=OFF -DSTHENO_BUILD_BENCHMARKS=OFF >/dev/null
cmake --build "$build" --target "${targets[@]/#/fuzz_}"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=()
for target in "${targets[@]}"; do
  work=$build/run/$target
  rm -rf "$work"
  mkdir -p "$work/corpus" "$build/crashes/$target"
  cp fuzz/corpus/"$target"/* "$work/corpus/"
  echo "== fuzz_$target for $seconds s"
  seed_flag=()
  if [ -n "${FUZZ_SEED:-}" ]; then seed_flag=(-seed="$FUZZ_SEED"); fi
  if "$build/fuzz/fuzz_$target" "$work/corpus" -dict="fuzz/$target.dict" -max_total_time="$seconds" "${seed_flag[@]}" \
       -max_len=65536 -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$build/crashes/$target/" \
       >"$work/log" 2>&1; then
    grep -E '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$work/log" || true
  else
    tail -n 60 "$work/log"
    failed+=("$target")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: crashes in: ${failed[*]} (inputs in $build/crashes/)" >&2
  exit 1
fi
echo "fuzz: no crashes in ${targets[*]}"
