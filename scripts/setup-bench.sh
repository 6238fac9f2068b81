#!/usr/bin/env bash
# Installs the peers of the side-by-side workload benchmarks (bench/run_workloads.py), from
# Debian's packages only: PyTorch (Python and C++), dlib and numpy, plus what builds the C++ peers.
# Runs as root (or through sudo). Safe to run again.
set -euo pipefail

packages=(
  g++ cmake ninja-build    # builds bench/peers
  python3-torch            # PyTorch eager peer (/usr/bin/python3)
  libtorch-dev             # libtorch peer: PyTorch's C++ frontend, CMake package Torch
  libdlib-dev              # dlib's dnn peer, CMake package dlib
  python3-numpy            # numpy peers (Nielsen's network.py, per-sample and whole-batch)
  dataset-fashion-mnist    # the workloads' data, under /usr/share/datasets/fashion-mnist/
)

as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "setup-bench: installed ${#packages[@]} packages"
