#pragma once
// Convolution on a device backend as its own im2col and GEMM (columns in a scratch tensor the
// backend keeps and reuses), and the checks of its convolution, pooling and batch-norm kernels.
// Only the kernels (im2col, col2im, pooling, moments) differ between devices.
#include <cstdint>
#include <memory>
#include <string>

#include "kernels/conv_checks.hpp"
#include "kernels/pool_checks.hpp"
#include "stheno/kernels/backend.hpp"

namespace stheno {

// (N, C, H, W) for a batched image, (1, C, H, W) for a single one.
inline Tensor batched(const Tensor& t) { return t.rank() == 3 ? t.unsqueeze(0) : t; }

// A device tensor of `shape` over `storage`, which is made or grown (never shrunk) to fit: the
// columns a backend keeps for conv2d_by_columns below.
Tensor grown_tensor(std::shared_ptr<Storage>& storage, const Shape& shape, DType dtype, Device device);

// Checks an im2col or col2im call; returns (images, columns) both batched.
std::pair<Tensor, Tensor> check_columns(const char* op, const Tensor& image, const Conv2dGeometry& g, const Tensor& columns);
void check_pool_backward(const Tensor& x, const Tensor& pooled, const Tensor& grad, const Tensor& dx);
struct ChannelShape {
  std::int64_t n, c, inner;
};
// Every backend's channel-moment checks; a device also needs x contiguous (the host copies it).
ChannelShape check_channel_moments(const Tensor& x, const Tensor& mean, const Tensor& variance, Device device);
void check_running_moments(const Tensor& mean, const Tensor& variance, const Tensor& running_mean, const Tensor& running_var);

inline ConvShapes check_conv_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dGeometry& g,
                                     const Tensor& out) {
  const ConvShapes s = conv_shapes("conv2d", x, weight, out, g);
  if (bias.defined() && (bias.shape() != Shape{s.f} || bias.dtype() != x.dtype()))
    throw ShapeError("conv2d: the bias must be (" + std::to_string(s.f) + ",), got " + bias.shape().str());
  return s;
}

// `columns(shape, dtype)` gives the backend's reusable scratch tensor for the columns.
template <class Columns>
void conv2d_by_columns(Backend& b, Columns&& columns, const Tensor& x, const Tensor& weight, const Tensor& bias,
                       const Conv2dGeometry& g, const Tensor& out) {
  const ConvShapes s = check_conv_forward(x, weight, bias, g, out);
  const Tensor cols = columns(Shape{s.n, s.k, s.p}, x.dtype());
  b.im2col(x, g, cols);
  if (bias.defined()) b.copy(bias.unsqueeze(1).expand(out.shape()), out);
  b.matmul(weight, cols, out, 1.0, bias.defined() ? 1.0 : 0.0);
}

template <class Columns>
void conv2d_input_grad_by_columns(Backend& b, Columns&& columns, const Tensor& grad, const Tensor& weight,
                                  const Conv2dGeometry& g, const Tensor& dx) {
  const ConvShapes s = conv_shapes("conv2d_backward_input", dx, weight, grad, g);
  const Tensor cols = columns(Shape{s.n, s.k, s.p}, dx.dtype());
  b.matmul(weight.t(), grad, cols, 1.0, 0.0);
  b.col2im(cols, g, dx);
}

template <class Columns>
void conv2d_weight_grad_by_columns(Backend& b, Columns&& columns, const Tensor& x, const Tensor& grad,
                                   const Conv2dGeometry& g, const Tensor& dweight) {
  const ConvShapes s = conv_shapes("conv2d_backward_weight", x, dweight, grad, g);
  if (s.n == 0) return b.fill(dweight, 0.0);
  const Tensor cols = columns(Shape{s.n, s.k, s.p}, x.dtype());
  b.im2col(x, g, cols);
  // Σ over images of grad_i·cols_iᵀ, accumulated in image order.
  for (std::int64_t i = 0; i < s.n; ++i) b.matmul(grad.select(0, i), cols.select(0, i).t(), dweight, 1.0, i == 0 ? 0.0 : 1.0);
}

}  // namespace stheno
