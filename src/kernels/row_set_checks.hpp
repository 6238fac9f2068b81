#pragma once
// The check every kernel makes before it uses a row set (kernels/sparse.hpp): a contiguous int32
// vector of distinct table rows in ascending order, then -1 to the end.
#include <cstdint>
#include <string>

#include "stheno/tensor/tensor.hpp"

namespace stheno {

// "(3, 4) float32", or "undefined": how the kernels' errors name an operand.
inline std::string described(const Tensor& t) {
  return t.defined() ? t.shape().str() + " " + std::string(dtype_name(t.dtype())) : "undefined";
}

// Returns how many rows the set holds; throws IndexError naming the first entry out of place.
inline std::int64_t check_row_set(const char* op, const Tensor& rows, std::int64_t table_rows) {
  if (!rows.defined() || rows.dtype() != DType::i32 || rows.rank() != 1 || !rows.is_contiguous())
    throw ShapeError(std::string(op) + ": the rows must be a contiguous int32 vector, got " + described(rows));
  const std::int32_t* r = rows.data<std::int32_t>();
  const std::int64_t capacity = rows.numel();
  std::int64_t count = 0;
  while (count < capacity && r[count] >= 0) ++count;
  for (std::int64_t k = 0; k < capacity; ++k) {
    const bool ok = k < count ? r[k] < table_rows && (k == 0 || r[k] > r[k - 1]) : r[k] == -1;
    if (!ok)
      throw IndexError(std::string(op) + ": row set entry " + std::to_string(k) + " is " + std::to_string(r[k]) +
                       (k < count ? ", but the entries must be distinct table rows in [0, " +
                                        std::to_string(table_rows) + ") in ascending order"
                                  : ", but after the first -1 every entry must be -1"));
  }
  return count;
}

}  // namespace stheno
