#pragma once
// The shape checks every backend's recurrent-cell kernels make before touching memory.
#include <string>
#include <utility>

#include "stheno/tensor/tensor.hpp"

namespace stheno {

// Checks that t is (n, width) of dtype with unit stride along its rows; returns the row stride.
inline std::int64_t row_stride(const char* op, const char* what, const Tensor& t, std::int64_t n, std::int64_t width, DType dtype) {
  if (!t.defined()) throw ValueError(std::string(op) + ": " + what + " is undefined");
  if (t.dtype() != dtype)
    throw DTypeError(std::string(op) + ": " + what + " has dtype " + std::string(dtype_name(t.dtype())) + ", expected " +
                     std::string(dtype_name(dtype)));
  if (t.shape() != Shape{n, width})
    throw ShapeError(std::string(op) + ": " + what + " has shape " + t.shape().str() + ", expected " +
                     Shape{n, width}.str());
  // Rows with a gap between them are fine; scattered elements within a row are not.
  if (width > 1 && t.strides()[1] != 1)
    throw ShapeError(std::string(op) + ": " + what + " must have unit stride along its last axis");
  return n > 1 ? t.strides()[0] : width;
}

// The batch size N and hidden size H of gate pre-activations (N, gates·H).
inline std::pair<std::int64_t, std::int64_t> batch_and_hidden(const char* op, const char* what, const Tensor& t, std::int64_t gates) {
  if (!t.defined() || t.rank() != 2 || t.shape()[1] % gates != 0)
    throw ShapeError(std::string(op) + ": " + what + " must be (N, " + std::to_string(gates) + "H), got " +
                     (t.defined() ? t.shape().str() : std::string("undefined")));
  return {t.shape()[0], t.shape()[1] / gates};
}

}  // namespace stheno
