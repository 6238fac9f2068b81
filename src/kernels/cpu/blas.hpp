#pragma once
// The BLAS library (oneMKL on Intel CPUs where it is installed, else OpenBLAS), loaded at first use
// rather than linked, so that stheno chooses the library and OpenBLAS's kernel set before either
// initialises. OpenBLAS reads OPENBLAS_CORETYPE once, at load time, and on CPUs its table does not
// know (Debian's 0.3.21 on Sapphire and Emerald Rapids) it falls back to SSE3 kernels that run
// GEMM 4–5× slower. Only cpu::gemm and the thread setup call through here. Both libraries share
// the CBLAS interface with 32-bit integers.
#include <cblas.h>

namespace stheno::cpu {

enum class BlasLibrary { openblas, mkl };

struct Blas {
  decltype(&cblas_sgemm) sgemm;
  decltype(&cblas_dgemm) dgemm;
  BlasLibrary library;  // which products go to stheno's own kernel instead depends on it (matmul.cpp)
};

// Loads the library on first use and throws stheno::Error naming the library if it cannot.
const Blas& blas();

// Makes BLAS calls from this thread run on this thread alone (an OpenMP build of OpenBLAS follows
// the calling thread's OpenMP thread count, and setting it allocates that thread's OpenMP state
// once). blas() does it on first use; stheno's workers do it as they start, so that a worker's
// first product, whenever it comes, allocates nothing.
void prepare_thread_for_blas();

}  // namespace stheno::cpu
