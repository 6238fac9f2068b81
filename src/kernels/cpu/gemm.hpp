#pragma once
// One row-major matrix product on raw pointers, on the calling thread:
// C = alpha·op(A)·op(B) + beta·C, with op a transpose when asked. The kernels' one door to BLAS:
// products where stheno's own kernel is the better choice (small ones, and shapes where BLAS
// would allocate) go there instead. Callers that split work across threads call it per part.
#include <cstdint>

namespace stheno::cpu {

template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t lda,
          const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc);

}  // namespace stheno::cpu
