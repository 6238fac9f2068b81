#pragma once
// Matrix products on BLAS. Transposed and sliced operands (t(), slice) are passed to BLAS as
// they are, without a copy, whenever one of their two last axes has unit stride.
#include "stheno/tensor/tensor.hpp"

namespace stheno {

// NumPy's matmul: (m,k)·(k,n); (..., m, k)·(..., k, n) with broadcast batch axes; a 1-D left
// operand is a row vector and a 1-D right operand a column vector, and that axis is dropped.
Tensor matmul(const Tensor& a, const Tensor& b);
// out = alpha * a·b + beta * out (out must already have the result's shape).
void matmul(const Tensor& a, const Tensor& b, const Tensor& out, double alpha = 1.0, double beta = 0.0);
// The shape matmul(a, b) returns; throws ShapeError naming both shapes.
Shape matmul_shape(const Shape& a, const Shape& b);

// (m,k)·(k,) -> (m,)
Tensor matvec(const Tensor& a, const Tensor& x);
// (m,)⊗(n,) -> (m,n), out[i,j] = a[i]·b[j]
Tensor outer(const Tensor& a, const Tensor& b);
void outer(const Tensor& a, const Tensor& b, const Tensor& out);

}  // namespace stheno
