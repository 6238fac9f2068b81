#pragma once
// Products of a sparse matrix in CSR form (tensor/csr.hpp) with dense matrices. The out-forms
// take the CSR arrays as tensors, as a compiled program holds them: row offsets (rows + 1) and
// columns (capacity), both int32 or both int64, and values (capacity, float), of which the first
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

// --- row-sparse gradients ------------------------------------------------------------------------
// The gradient of a (cols, n) table that a step used only some rows of, held as two arrays: rows
// (capacity,) int32, distinct and ascending, then -1 to the end (a "row set"), and values
// (capacity, n), whose row k belongs at table row rows[k] and is zero past the last row. The
// kernels below check a row set before they use it and name the first entry that breaks it; a
// table with more rows than int32 counts is a ValueError.

// out (capacity,) = the distinct columns of A's stored entries, ascending, then -1; A has `cols`
// columns; capacity must be at least the number of distinct columns.
void csr_column_set(const Tensor& row_offsets, const Tensor& columns, std::int64_t cols, const Tensor& out);
// Aᵀ·dense at a row set that holds every column A uses (csr_column_set's): out row k = Σ over
// A's entries (i, rows[k]) of value · (row i of dense). dense (rows of A, n), out (rows.numel(),
// n); entries of one column are added in row order, so results are identical at every thread
// count. A column of A missing from `rows` is an IndexError naming it.
void csr_t_matmul_at_rows(const Tensor& row_offsets, const Tensor& columns, const Tensor& values, const Tensor& dense,
                          const Tensor& rows, std::int64_t cols, const Tensor& out);
// out (cols, n): zero, except row rows[k] = row k of values.
void rows_to_dense(const Tensor& rows, const Tensor& values, const Tensor& out);
// out (rows.numel(), n): row k = row rows[k] of dense, zero past the last row.
void take_rows(const Tensor& dense, const Tensor& rows, const Tensor& out);

// Allocating forms on a CsrMatrix.
Tensor csr_matmul(const CsrMatrix& a, const Tensor& dense);
Tensor csr_t_matmul(const CsrMatrix& a, const Tensor& dense);

}  // namespace stheno
