#pragma once
// Elementwise kernels. Each op comes in three forms:
//   y = exp(x)          returns a new tensor
//   exp(x, out)         writes into out's elements (out may be x itself, or a strided view)
//   exp_(x)             in place
// Binary ops broadcast their operands NumPy-style; both must have the same dtype.
#include <string_view>

#include "stheno/tensor/tensor.hpp"

namespace stheno {

// sign is -1, 0 or 1; step is 1 where x > 0, else 0 (the derivative of relu).
enum class UnaryOp { neg, abs, exp, log, sqrt, square, tanh, sigmoid, relu, sign, step };
// The *_grad ops are the backward passes of activations, fused into one pass each:
// sigmoid_grad(y, g) = g·y·(1−y) and tanh_grad(y, g) = g·(1−y²) from the activation's output y,
// relu_grad(x, g) = g where x > 0, else 0, from its input x.
enum class BinaryOp { add, sub, mul, div, pow, maximum, minimum, sigmoid_grad, tanh_grad, relu_grad };

std::string_view op_name(UnaryOp op);
std::string_view op_name(BinaryOp op);

Tensor unary(UnaryOp op, const Tensor& x);
void unary(UnaryOp op, const Tensor& x, const Tensor& out);

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
void binary(BinaryOp op, const Tensor& a, const Tensor& b, const Tensor& out);

#define STHENO_DECLARE_UNARY(name)                                                         \
  inline Tensor name(const Tensor& x) { return unary(UnaryOp::name, x); }                  \
  inline void name(const Tensor& x, const Tensor& out) { unary(UnaryOp::name, x, out); }   \
  inline void name##_(const Tensor& x) { unary(UnaryOp::name, x, x); }
STHENO_DECLARE_UNARY(neg)
STHENO_DECLARE_UNARY(abs)
STHENO_DECLARE_UNARY(exp)
STHENO_DECLARE_UNARY(log)
STHENO_DECLARE_UNARY(sqrt)
STHENO_DECLARE_UNARY(square)
STHENO_DECLARE_UNARY(tanh)
STHENO_DECLARE_UNARY(sigmoid)
STHENO_DECLARE_UNARY(relu)
STHENO_DECLARE_UNARY(sign)
STHENO_DECLARE_UNARY(step)
#undef STHENO_DECLARE_UNARY

// a_(a, b) updates a in place; b is broadcast to a's shape.
#define STHENO_DECLARE_BINARY(name)                                                                   \
  inline Tensor name(const Tensor& a, const Tensor& b) { return binary(BinaryOp::name, a, b); }       \
  inline void name(const Tensor& a, const Tensor& b, const Tensor& out) { binary(BinaryOp::name, a, b, out); } \
  inline void name##_(const Tensor& a, const Tensor& b) { binary(BinaryOp::name, a, b, a); }
STHENO_DECLARE_BINARY(add)
STHENO_DECLARE_BINARY(sub)
STHENO_DECLARE_BINARY(mul)
STHENO_DECLARE_BINARY(div)
STHENO_DECLARE_BINARY(pow)
STHENO_DECLARE_BINARY(maximum)
STHENO_DECLARE_BINARY(minimum)
STHENO_DECLARE_BINARY(sigmoid_grad)
STHENO_DECLARE_BINARY(tanh_grad)
STHENO_DECLARE_BINARY(relu_grad)
#undef STHENO_DECLARE_BINARY

}  // namespace stheno
