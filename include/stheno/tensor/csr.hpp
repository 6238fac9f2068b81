#pragma once
// A sparse matrix in compressed sparse row (CSR) form: for a rows × cols matrix, row_offsets
// (rows + 1) says where each row's entries start in columns and values (float32 or float64); row
// i holds entries [row_offsets[i], row_offsets[i + 1]). Columns within a row are sorted and
// unique. Built for inputs where most entries are zero (bag-of-words, one-hot features): the
// products in kernels/sparse.hpp touch only the stored entries.
//
// Offsets and columns share one index dtype: int32 (the default: half the memory traffic, up to
// 2^31 - 1 rows, columns and stored entries) or int64 (for matrices past that).
#include <cstdint>
#include <span>
#include <string>

#include "stheno/tensor/tensor.hpp"

namespace stheno {

class CsrMatrix {
 public:
  CsrMatrix() = default;

  // From arrays already in CSR form; checks everything (row offsets start at 0, never decrease
  // and end at nnz; every column lies in [0, cols)) and throws IndexError/ValueError naming the
  // row. Columns of a row may come in any order and repeat: they are sorted and repeated entries
  // summed.
  static CsrMatrix from_arrays(std::int64_t rows, std::int64_t cols, const Tensor& row_offsets, const Tensor& columns,
                               const Tensor& values);
  // From (row, column, value) triplets in any order; repeated positions are summed. The indices'
  // type is the matrix's index dtype.
  static CsrMatrix from_triplets(std::int64_t rows, std::int64_t cols, std::span<const std::int32_t> row_indices,
                                 std::span<const std::int32_t> column_indices, std::span<const double> values,
                                 DType dtype = DType::f32);
  static CsrMatrix from_triplets(std::int64_t rows, std::int64_t cols, std::span<const std::int64_t> row_indices,
                                 std::span<const std::int64_t> column_indices, std::span<const double> values,
                                 DType dtype = DType::f32);
  // The non-zero entries of a 2-D float tensor.
  static CsrMatrix from_dense(const Tensor& dense, DType index_dtype = DType::i32);

  std::int64_t rows() const { return rows_; }
  std::int64_t cols() const { return cols_; }
  std::int64_t nnz() const { return values_.defined() ? values_.numel() : 0; }
  DType dtype() const { return values_.dtype(); }
  DType index_dtype() const { return row_offsets_.defined() ? row_offsets_.dtype() : DType::i32; }
  bool defined() const { return values_.defined(); }
  // Stored entries over all entries.
  double density() const;

  const Tensor& row_offsets() const { return row_offsets_; }
  const Tensor& columns() const { return columns_; }
  const Tensor& values() const { return values_; }

  // The same matrix with int32 or int64 indices; to int32, a ValueError if the sizes do not fit.
  CsrMatrix with_index_dtype(DType index_dtype) const;
  // Rows [begin, end) as a CSR matrix of their own (the arrays are copied; offsets start at 0).
  CsrMatrix rows_slice(std::int64_t begin, std::int64_t end) const;
  Tensor to_dense() const;
  // "csr (3, 4) float32, 2 stored (16.7%)" (then ", int64 indices" where so) and one line per row:
  // "  row 0: 1:0.5 3:2".
  std::string str(std::int64_t max_rows = 10) const;

 private:
  std::int64_t rows_ = 0, cols_ = 0;
  Tensor row_offsets_, columns_, values_;
};

}  // namespace stheno
