#include "kernels/device_conv.hpp"

namespace stheno {

Tensor grown_tensor(std::shared_ptr<Storage>& storage, const Shape& shape, DType dtype, Device device) {
  const std::size_t bytes = static_cast<std::size_t>(shape.numel()) * itemsize(dtype);
  if (!storage || storage->bytes() < bytes) storage = Storage::allocate(bytes, device);
  return Tensor::over(storage, shape, dtype);
}

std::pair<Tensor, Tensor> check_columns(const char* op, const Tensor& image, const Conv2dGeometry& g, const Tensor& columns) {
  if (!image.defined() || (image.rank() != 3 && image.rank() != 4))
    throw ShapeError(std::string(op) + ": images must be (C, H, W) or (N, C, H, W)");
  check_image(op, image, g);
  const Tensor img = batched(image);
  const Shape expected{img.size(0), g.channels * g.kernel_h * g.kernel_w, g.out_h() * g.out_w()};
  const Tensor cols = image.rank() == 3 ? columns.unsqueeze(0) : columns;
  if (cols.shape() != expected || columns.dtype() != image.dtype())
    throw ShapeError(std::string(op) + ": columns have shape " + columns.shape().str() + " but the geometry needs " +
                     expected.str());
  return {img, cols};
}

void check_pool_backward(const Tensor& x, const Tensor& pooled, const Tensor& grad, const Tensor& dx) {
  if (pooled.shape() != grad.shape() || pooled.dtype() != x.dtype() || !pooled.is_contiguous())
    throw ShapeError("max_pool2d_backward: the pooled values must be contiguous " + grad.shape().str());
  if (dx.shape() != x.shape() || dx.dtype() != x.dtype() || !dx.is_contiguous())
    throw ShapeError("max_pool2d_backward: dx must be contiguous " + x.shape().str());
}

ChannelShape check_channel_moments(const Tensor& x, const Tensor& mean, const Tensor& variance, Device device) {
  if (!x.defined() || x.rank() < 2) throw ShapeError("channel_moments: x must be (N, C, ...)");
  const std::int64_t n = x.shape()[0], c = x.shape()[1], inner = n == 0 || c == 0 ? 0 : x.numel() / (n * c);
  for (const Tensor* t : {&mean, &variance})
    if (!t->defined() || t->shape() != Shape{c} || t->dtype() != x.dtype())
      throw ShapeError("channel_moments: outputs must be " + std::string(dtype_name(x.dtype())) + " " + Shape{c}.str());
  if (n * inner == 0) throw ShapeError("channel_moments: x " + x.shape().str() + " has no values per channel");
  if (!device.is_host() && !x.is_contiguous()) throw ShapeError("channel_moments: x must be contiguous on " + device.str());
  return {n, c, inner};
}

void check_running_moments(const Tensor& mean, const Tensor& variance, const Tensor& running_mean, const Tensor& running_var) {
  for (const Tensor* t : {&mean, &variance, &running_mean, &running_var})
    if (!t->defined() || t->shape() != running_mean.shape() || t->dtype() != running_mean.dtype() || t->rank() != 1)
      throw ShapeError("update_running_moments: the statistics must all be (C,) of one float dtype");
  if (!running_mean.is_contiguous() || !running_var.is_contiguous())
    throw ShapeError("update_running_moments: the running statistics must be contiguous");
}

}  // namespace stheno
