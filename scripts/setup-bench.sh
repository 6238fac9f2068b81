#!/usr/bin/env bash
# Installs the peers of the side-by-side workload benchmarks (bench/run_workloads.py) from
# Debian's packages: PyTorch (Python and C++), dlib and numpy, plus what builds the C++ peers.
# With --pypi it also puts current PyTorch (with MKL and oneDNN; several GB) and JAX (jax[cpu])
# from PyPI into build/bench-venv, for the eager, torch.compile and jax.jit peers, and Intel's
# oneMKL, which bench/gemm_choice.py times beside OpenBLAS, BLIS and oneDNN.
# Runs as root (or through sudo). Safe to run again.
# Usage: scripts/setup-bench.sh [--pypi]
set -euo pipefail
cd "$(dirname "$0")/.."
pypi=false
for arg in "$@"; do
  case "$arg" in
    --pypi) pypi=true ;;
    *) echo "setup-bench: unknown argument $arg (usage: scripts/setup-bench.sh [--pypi])" >&2; exit 2 ;;
  esac
done

packages=(
  g++ cmake ninja-build    # builds bench/peers
  python3-torch            # PyTorch eager peer (/usr/bin/python3)
  libtorch-dev             # libtorch peer: PyTorch's C++ frontend, CMake package Torch
  libdlib-dev              # dlib's dnn peer, CMake package dlib
  python3-numpy            # numpy peers (Nielsen's network.py, per-sample and whole-batch)
  dataset-fashion-mnist    # the workloads' data, under /usr/share/datasets/fashion-mnist/
  python3-venv             # build/bench-venv for the PyPI peers (--pypi)
  libblis-openmp-dev libdnnl-dev  # the other GEMM libraries bench/gemm_choice.py compares
)

as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "setup-bench: installed ${#packages[@]} packages"
if $pypi; then
  /usr/bin/python3 -m venv build/bench-venv
  build/bench-venv/bin/pip install -q --upgrade torch "jax[cpu]" numpy
  echo "setup-bench: build/bench-venv has torch $(build/bench-venv/bin/python -c 'import torch; print(torch.__version__)')" \
    "and jax $(build/bench-venv/bin/python -c 'import jax; print(jax.__version__)')"
fi
