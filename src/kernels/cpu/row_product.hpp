#pragma once
// Aᵀ·dense at a row set (kernels/sparse.hpp csr_t_matmul_at_rows), prepared once and then formed
// any rows at a time: csr_t_matmul_at_rows forms them all into its output, and the row-sparse
// optimizer updates (optim_update.cpp) form a few at a time into a buffer that stays in cache,
// so that the block of gradient rows is never written out whole.
#include <cstdint>

#include "stheno/tensor/tensor.hpp"

namespace stheno::cpu {

template <class T>
struct RowProduct {
  // A's transpose restricted to the set, in CSR form: row k holds A's entries in column rows[k],
  // in A's row order; its columns are rows of the dense operand. Rows past the set are empty.
  const std::int64_t* offsets = nullptr;
  const std::int64_t* dense_rows = nullptr;
  const T* values = nullptr;
  std::int64_t entries = 0;
  const T* dense = nullptr;
  std::int64_t dense_row_count = 0, n = 0, ld = 0;

  // Rows [begin, end) of the product into out, rows ldo apart; each row is written once.
  void form(std::int64_t begin, std::int64_t end, T* out, std::int64_t ldo) const;
};

// Checks the operands as csr_t_matmul_at_rows does (naming `op`) and builds the transpose in the
// calling thread's scratch, which stays valid until the next call: `values` holds A's entries,
// `dense` has A's rows; `rows` is a row set of a table of `cols` rows.
template <class T>
RowProduct<T> prepare_row_product(const char* op, const Tensor& row_offsets, const Tensor& columns,
                                  const Tensor& values, const Tensor& dense, const Tensor& rows, std::int64_t cols);

}  // namespace stheno::cpu
