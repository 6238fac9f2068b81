#!/usr/bin/env bash
# Installs everything stheno needs to build, test and benchmark, from Debian's packages, and
# onnxruntime from PyPI (into build/onnx-venv, for the ONNX tests). Runs as root (or through
# sudo). Safe to run again.
set -euo pipefail

packages=(
  g++ cmake ninja-build ccache pkg-config
  libopenblas-openmp-dev   # BLAS (chosen by bench/README.md): its header, and the OpenMP build stheno loads
  zlib1g-dev               # gzip'd IDX files
  nlohmann-json3-dev       # safetensors headers
  libgtest-dev libgmock-dev
  libbenchmark-dev
  dataset-fashion-mnist    # the default dataset, under /usr/share/datasets/fashion-mnist/
  python3-numpy            # numpy side of the side-by-side benchmarks (/usr/bin/python3)
  python3-torch            # the gradient comparison with PyTorch (tests/torch/)
  gnuplot-nox              # stheno train draws its loss and accuracy curves with it
  clang libclang-rt-14-dev libomp-14-dev  # scripts/fuzz.sh: libFuzzer and the sanitizers
  ocl-icd-opencl-dev opencl-headers        # the OpenCL backend: the ICD loader and headers
  libclblast-dev                           # its GEMM
  pocl-opencl-icd clinfo                   # a CPU OpenCL platform, so its tests run without a GPU
  libopenmpi-dev openmpi-bin               # data-parallel training (dist/): Open MPI and mpirun
  iproute2                                 # tests/dist/two_hosts.py: two network namespaces as two hosts
  libonnx-dev libprotobuf-dev              # ONNX export and import (io/onnx.hpp): ONNX's protobuf schema
  python3-onnx python3-venv                # tests/onnx: onnx.checker, and the venv for onnxruntime
)

as_root=()
if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi

export DEBIAN_FRONTEND=noninteractive
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
echo "setup: installed ${#packages[@]} packages"

# onnxruntime is not in Debian. The venv sees Debian's numpy, onnx and torch (system site
# packages), so onnxruntime's wheel is all it adds.
cd "$(dirname "$0")/.."
if ! build/onnx-venv/bin/python -c "import onnxruntime" 2>/dev/null; then
  mkdir -p build
  /usr/bin/python3 -m venv --system-site-packages build/onnx-venv
  build/onnx-venv/bin/pip install -q --disable-pip-version-check onnxruntime==1.30.0
fi
# oneMKL is not in Debian's main archive either; stheno loads it at run time for GEMM on Intel CPUs
# (src/kernels/cpu/blas.cpp). Only its libraries are wanted: its threading layers' runtimes
# (Intel OpenMP, TBB) are not, since stheno runs it sequentially.
if [ ! -e build/mkl/lib/libmkl_rt.so.3 ]; then
  /usr/bin/python3 -m venv build/mkl
  build/mkl/bin/pip install -q --disable-pip-version-check --no-deps mkl==2026.2.0
fi
echo "setup: build/mkl has $(ls build/mkl/lib/libmkl_rt.so.3)"
echo "setup: build/onnx-venv has onnxruntime $(build/onnx-venv/bin/python -c 'import onnxruntime; print(onnxruntime.__version__)')"
