#pragma once
// Max pooling over k×k windows of (N, C, H, W) images, read straight from the image (no window
// matrix), and its adjoint, which routes each output's gradient to the first maximum of its
// window (as PyTorch does; with ties, any subgradient is valid).
#include <cstdint>

#include "stheno/tensor/tensor.hpp"

namespace stheno {

// out (N, C, (H - k) / stride + 1, (W - k) / stride + 1)
void max_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride, const Tensor& out);
// dx (N, C, H, W) = 0, plus grad (shaped like out) at each window's first tap equal to the
// pooled value (the forward result, which saves searching for the maximum again)
void max_pool2d_backward(const Tensor& x, const Tensor& pooled, const Tensor& grad, std::int64_t kernel, std::int64_t stride,
                         const Tensor& dx);

}  // namespace stheno
