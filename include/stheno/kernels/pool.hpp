#pragma once
// Max pooling over kh×kw windows of (N, C, H, W) images, read straight from the image (no window
// matrix), and its adjoint, which routes each output's gradient to the first maximum of its
// window (as PyTorch does; with ties, any subgradient is valid).
#include <cstdint>
#include <string>

#include "stheno/kernels/conv.hpp"

namespace stheno {

// Windows of kernel.h × kernel.w moved by stride over the image with `padding` added on each
// side. Padded positions never win: a window's maximum is over the pixels it covers.
struct Pool2dWindow {
  Size2 kernel = 1, stride = 1, padding = 0;

  // A stride of 0 on an axis stands for the kernel's size there (windows side by side).
  static Pool2dWindow of(Size2 kernel, Size2 stride, Size2 padding) {
    return {kernel, {stride.h > 0 ? stride.h : kernel.h, stride.w > 0 ? stride.w : kernel.w}, padding};
  }

  // Throws ValueError/ShapeError naming `op` unless kernel and stride are at least 1, padding is
  // at most half the kernel (as in PyTorch, so every window covers a pixel) and the padded image
  // holds a window.
  void validate(std::string_view op, std::int64_t height, std::int64_t width) const;
  std::int64_t out_h(std::int64_t height) const { return (height + 2 * padding.h - kernel.h) / stride.h + 1; }
  std::int64_t out_w(std::int64_t width) const { return (width + 2 * padding.w - kernel.w) / stride.w + 1; }
  std::string str() const;
};

// out (N, C, out_h(H), out_w(W))
void max_pool2d(const Tensor& x, const Pool2dWindow& window, const Tensor& out);
// dx (N, C, H, W) = 0, plus grad (shaped like out) at each window's first tap equal to the
// pooled value (the forward result, which saves searching for the maximum again)
void max_pool2d_backward(const Tensor& x, const Tensor& pooled, const Tensor& grad, const Pool2dWindow& window,
                         const Tensor& dx);

}  // namespace stheno
