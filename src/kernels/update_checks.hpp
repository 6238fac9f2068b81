#pragma once
// What every backend's optimizer updates share: the checks made before touching memory, and
// Adam's per-step scalars.
#include <cmath>
#include <cstdint>
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

// The checks of each dense update, in one place for every device backend.
inline void require_sgd(const Tensor& param, const Tensor& grad, const Tensor& velocity, double momentum) {
  require_param("sgd", param);
  require_match("sgd", param, grad, "gradient");
  if (momentum != 0) require_match("sgd", param, velocity, "velocity");
}

inline void require_adagrad(const Tensor& param, const Tensor& grad, const Tensor& sum_squares) {
  require_param("adagrad", param);
  require_match("adagrad", param, grad, "gradient");
  require_match("adagrad", param, sum_squares, "sum of squares");
}

inline void require_rmsprop(const Tensor& param, const Tensor& grad, const Tensor& square_avg, const Tensor& momentum_buffer,
                            double momentum) {
  require_param("rmsprop", param);
  require_match("rmsprop", param, grad, "gradient");
  require_match("rmsprop", param, square_avg, "square average");
  if (momentum != 0) require_match("rmsprop", param, momentum_buffer, "momentum buffer");
}

inline void require_adam(const Tensor& param, const Tensor& grad, const Tensor& m, const Tensor& v, std::int64_t t) {
  require_param("adam", param);
  require_match("adam", param, grad, "gradient");
  require_match("adam", param, m, "first moment");
  require_match("adam", param, v, "second moment");
  if (t < 1) throw ValueError("adam: the step count starts at 1, got " + std::to_string(t));
}

// Adam at step t in the parameter's type T, as every backend's kernel takes it: the bias
// corrections folded in as 1/(1-β1^t) and 1/sqrt(1-β2^t), and weight decay as a shrink factor
// 1 - lr·wd (decoupled, AdamW) or as an L2 term added to the gradient.
template <class T>
struct AdamTerms {
  T rate, beta1, beta2, eps, inv_c1, inv_sqrt_c2, shrink, l2;
};

template <class T>
AdamTerms<T> adam_terms(double lr, double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                        std::int64_t t) {
  const double c1 = 1.0 - std::pow(beta1, static_cast<double>(t));
  const double c2 = 1.0 - std::pow(beta2, static_cast<double>(t));
  const auto rate = static_cast<T>(lr);
  return {rate,
          static_cast<T>(beta1),
          static_cast<T>(beta2),
          static_cast<T>(eps),
          static_cast<T>(1.0 / c1),
          static_cast<T>(1.0 / std::sqrt(c2)),
          decoupled ? T(1) - rate * static_cast<T>(weight_decay) : T(1),
          decoupled ? T(0) : static_cast<T>(weight_decay)};
}

}  // namespace stheno
