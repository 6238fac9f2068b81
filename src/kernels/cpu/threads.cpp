#include "stheno/kernels/threads.hpp"

#include <cblas.h>
#include <omp.h>

#include <string>

#include "stheno/tensor/error.hpp"

namespace stheno {

namespace {
// BLAS always runs on the thread that calls it: stheno splits big products across its own
// OpenMP threads. Multi-threaded OpenBLAS would allocate on every call and compete for cores.
// (OpenBLAS's OpenMP build also sets OpenMP's thread count here, which is put back.)
const bool blas_single_threaded = [] {
  const int threads = omp_get_max_threads();
  openblas_set_num_threads(1);
  omp_set_num_threads(threads);
  return true;
}();
}  // namespace

void set_num_threads(int n) {
  if (n < 1) throw ValueError("set_num_threads: need at least 1 thread, got " + std::to_string(n));
  omp_set_num_threads(n);
}

int num_threads() {
  return omp_get_max_threads();
}

}  // namespace stheno
