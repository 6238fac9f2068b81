#pragma once
// The shape checks every backend's row gathers make before touching memory.
#include <string>

#include "stheno/tensor/tensor.hpp"

namespace stheno {

// Checks the operands; returns the row width D.
inline std::int64_t check_gather(const char* op, const Tensor& table, const Tensor& indices, const Tensor& rows) {
  if (!table.defined() || !indices.defined() || !rows.defined()) throw ValueError(std::string(op) + ": undefined tensor");
  if (indices.dtype() != DType::i32)
    throw DTypeError(std::string(op) + ": indices must be int32, got " + std::string(dtype_name(indices.dtype())));
  if (table.rank() != 2) throw ShapeError(std::string(op) + ": the table " + table.shape().str() + " must be (V, D)");
  if (rows.dtype() != table.dtype()) throw DTypeError(std::string(op) + ": the table and the rows differ in dtype");
  const std::int64_t d = table.shape()[1];
  if (rows.numel() != indices.numel() * d)
    throw ShapeError(std::string(op) + ": " + std::to_string(indices.numel()) + " indices of rows of " + std::to_string(d) +
                     " need " + Shape{indices.numel(), d}.str() + " values, got " + rows.shape().str());
  if (!table.is_contiguous() || !rows.is_contiguous())
    throw ShapeError(std::string(op) + ": the table and the rows must be contiguous");
  return d;
}

}  // namespace stheno
