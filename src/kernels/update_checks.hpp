#pragma once
// The checks every backend's optimizer updates make before touching memory.
#include <string>

#include "stheno/tensor/tensor.hpp"

namespace stheno {

inline void require_match(const char* op, const Tensor& param, const Tensor& other, const char* what) {
  if (!other.defined()) throw ValueError(std::string(op) + ": " + what + " is undefined");
  if (other.shape() != param.shape() || other.dtype() != param.dtype())
    throw ShapeError(std::string(op) + ": " + what + " " + other.shape().str() + " " + std::string(dtype_name(other.dtype())) +
                     " does not match the parameter " + param.shape().str() + " " + std::string(dtype_name(param.dtype())));
  if (!other.is_contiguous()) throw ValueError(std::string(op) + ": " + what + " must be contiguous");
}

inline void require_param(const char* op, const Tensor& param) {
  if (!param.defined()) throw ValueError(std::string(op) + ": the parameter is undefined");
  if (!param.is_contiguous()) throw ValueError(std::string(op) + ": the parameter must be contiguous");
  if (!is_floating(param.dtype())) throw DTypeError(std::string(op) + ": parameters must be float32 or float64");
}

}  // namespace stheno
