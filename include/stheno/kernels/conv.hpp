#pragma once
// im2col and its adjoint col2im: the data movement that turns a 2-D convolution into one GEMM.
#include <string_view>

#include "stheno/tensor/tensor.hpp"

namespace stheno {

// A size per image axis, (height, width); one number stands for both.
struct Size2 {
  std::int64_t h = 0, w = 0;
  // Implicit, so that 3 passes for 3x3 wherever a Size2 is taken.
  constexpr Size2(std::int64_t both = 0) : h(both), w(both) {}
  constexpr Size2(std::int64_t height, std::int64_t width) : h(height), w(width) {}
  bool operator==(const Size2&) const = default;
};

struct Conv2dGeometry {
  std::int64_t channels = 1, height = 1, width = 1;
  std::int64_t kernel_h = 1, kernel_w = 1;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;

  std::int64_t out_h() const;
  std::int64_t out_w() const;
  // Throws ShapeError/ValueError naming `op` for non-positive sizes or a kernel that does not
  // fit the padded input.
  void validate(std::string_view op) const;
  std::string str() const;
};

// (C, H, W) -> (C*kh*kw, out_h*out_w), or batched (N, C, H, W) -> (N, C*kh*kw, out_h*out_w).
// Row (c*kh + i)*kw + j of the result holds input pixels under kernel tap (i, j) of channel c;
// taps that fall in the padding read as 0.
Tensor im2col(const Tensor& image, const Conv2dGeometry& g);
void im2col(const Tensor& image, const Conv2dGeometry& g, const Tensor& columns);
// The adjoint of im2col: sums every column entry back into the pixel it came from.
Tensor col2im(const Tensor& columns, const Conv2dGeometry& g);
void col2im(const Tensor& columns, const Conv2dGeometry& g, const Tensor& image);

// Convolution without a whole-batch column matrix: each image's columns go to a per-thread
// scratch that stays in cache, and one GEMM per image uses them at once. weight is the filters
// as a (F, C·kh·kw) matrix; images are (N, C, H, W) and outputs (N, F, out_h·out_w), each
// image's part contiguous (the batch stride may be larger: a channel slice, as grouped
// convolutions take). Images are shared out between threads; allocation-free after warm-up.
// out = weight·columns(x) (+ bias (F,) on every output position when defined)
void conv2d_forward(const Tensor& x, const Tensor& weight, const Tensor& bias, const Conv2dGeometry& g, const Tensor& out);
// dx = col2im(weightᵀ·grad), image by image
void conv2d_backward_input(const Tensor& grad, const Tensor& weight, const Conv2dGeometry& g, const Tensor& dx);
// dweight = Σ over images of grad·columns(x)ᵀ
void conv2d_backward_weight(const Tensor& x, const Tensor& grad, const Conv2dGeometry& g, const Tensor& dweight);

}  // namespace stheno
