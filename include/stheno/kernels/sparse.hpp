#pragma once
// Products of a sparse matrix in CSR form (tensor/csr.hpp) with dense matrices. The out-forms
// take the CSR arrays as tensors, as a compiled program holds them: row offsets (rows + 1,
// int32), columns (capacity, int32) and values (capacity, float), of which the first
// row_offsets[rows] entries are used and the rest is spare room that is never read. They check
// the arrays as they go: offsets that decrease or run past the capacity, and columns outside the
// dense operand, are an IndexError naming the row; nothing is written outside `out`.
// Dense operands need rows of unit stride; results are identical at every thread count.
#include "stheno/tensor/csr.hpp"

namespace stheno {

// out (rows, n) = A · dense, dense (cols, n).
void csr_matmul(const Tensor& row_offsets, const Tensor& columns, const Tensor& values, const Tensor& dense,
                const Tensor& out);
// out (cols, n) = Aᵀ · dense, dense (rows, n); cols is out's first axis.
void csr_t_matmul(const Tensor& row_offsets, const Tensor& columns, const Tensor& values, const Tensor& dense,
                  const Tensor& out);
// The product sampled at A's pattern: out (capacity,) with out[k] = (row i of a)·(row
// columns[k] of b) for each stored entry k of row i, and 0 past the stored entries. a (rows, n),
// b (cols, n). It is the gradient of A·B with respect to A's values, given a = dL/d(A·B) and b = B.
void csr_sampled_dot(const Tensor& row_offsets, const Tensor& columns, const Tensor& a, const Tensor& b,
                     const Tensor& out);

// Allocating forms on a CsrMatrix.
Tensor csr_matmul(const CsrMatrix& a, const Tensor& dense);
Tensor csr_t_matmul(const CsrMatrix& a, const Tensor& dense);

}  // namespace stheno
