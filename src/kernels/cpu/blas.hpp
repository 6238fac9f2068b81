#pragma once
// OpenBLAS, loaded at first use rather than linked, so that stheno chooses its kernel set before
// the library initialises. OpenBLAS reads OPENBLAS_CORETYPE once, at load time, and on CPUs its
// table does not know (Debian's 0.3.21 on Sapphire and Emerald Rapids) it falls back to SSE3
// kernels that run GEMM 4–5× slower. Only cpu::gemm and the thread setup call through here.
#include <cblas.h>

namespace stheno::cpu {

struct Blas {
  decltype(&cblas_sgemm) sgemm;
  decltype(&cblas_dgemm) dgemm;
};

// Loads OpenBLAS on first use and throws stheno::Error naming the library if it cannot.
const Blas& blas();

// Makes BLAS calls from this thread run on this thread alone (an OpenMP build of OpenBLAS follows
// the calling thread's OpenMP thread count, and setting it allocates that thread's OpenMP state
// once). blas() does it on first use; stheno's workers do it as they start, so that a worker's
// first product, whenever it comes, allocates nothing.
void prepare_thread_for_blas();

}  // namespace stheno::cpu
