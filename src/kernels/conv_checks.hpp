#pragma once
// The shape checks every backend's convolution kernels make before touching memory.
#include <string>

#include "stheno/kernels/conv.hpp"

namespace stheno {

inline void check_image(const char* op, const Tensor& image, const Conv2dGeometry& g) {
  if (!image.defined()) throw ValueError(std::string(op) + ": undefined tensor");
  g.validate(op);
  const int r = image.rank();
  if ((r != 3 && r != 4) || image.size(-3) != g.channels || image.size(-2) != g.height || image.size(-1) != g.width)
    throw ShapeError(std::string(op) + ": image has shape " + image.shape().str() + " but the geometry expects (" +
                     (r == 4 ? "N, " : "") + std::to_string(g.channels) + ", " + std::to_string(g.height) + ", " +
                     std::to_string(g.width) + ")");
}

struct ConvShapes {
  std::int64_t n, k, p, f;
  std::int64_t image, output;  // element strides between images and between their outputs
};

inline ConvShapes conv_shapes(const char* op, const Tensor& x_or_dx, const Tensor& weight, const Tensor& out_or_grad,
                       const Conv2dGeometry& g) {
  check_image(op, x_or_dx, g);
  if (x_or_dx.rank() != 4) throw ShapeError(std::string(op) + ": images must be (N, C, H, W), got " + x_or_dx.shape().str());
  const std::int64_t n = x_or_dx.shape()[0], k = g.channels * g.kernel_h * g.kernel_w, p = g.out_h() * g.out_w();
  if (weight.rank() != 2 || weight.shape()[1] != k)
    throw ShapeError(std::string(op) + ": the weight must be (F, " + std::to_string(k) + "), got " + weight.shape().str());
  const std::int64_t f = weight.shape()[0];
  if (out_or_grad.shape() != Shape{n, f, p})
    throw ShapeError(std::string(op) + ": the output must be " + Shape{n, f, p}.str() + ", got " + out_or_grad.shape().str());
  for (const Tensor* t : {&x_or_dx, &weight, &out_or_grad})
    if (t->dtype() != x_or_dx.dtype()) throw DTypeError(std::string(op) + ": operands must be of one dtype");
  if (!weight.is_contiguous()) throw ShapeError(std::string(op) + ": the weight must be contiguous");
  // Each image and each image's output must be contiguous; the images themselves may be apart
  // (a channel slice of a wider batch, as grouped convolutions take).
  const std::int64_t plane = g.height * g.width, image = g.channels * plane;
  const Strides& st = x_or_dx.strides();
  const Strides& so = out_or_grad.strides();
  if ((g.channels > 1 && st[1] != plane) || (g.height > 1 && st[2] != g.width) || (g.width > 1 && st[3] != 1) ||
      (n > 1 && st[0] < image) || (f > 1 && so[1] != p) || (p > 1 && so[2] != 1) || (n > 1 && so[0] < f * p))
    throw ShapeError(std::string(op) + ": each image and each image's output must be contiguous");
  return {n, k, p, f, n > 1 ? st[0] : image, n > 1 ? so[0] : f * p};
}

}  // namespace stheno
