#pragma once
// The shape checks every backend's pooling kernels make before touching memory.
#include <string>

#include "stheno/kernels/pool.hpp"

namespace stheno {

struct PoolShape {
  std::int64_t planes, h, w, oh, ow;
};

inline PoolShape check_pool(const char* op, const Tensor& x, const Pool2dWindow& win, const Tensor& pooled) {
  if (!x.defined() || x.rank() != 4) throw ShapeError(std::string(op) + ": expects (N, C, H, W) images");
  const std::int64_t h = x.shape()[2], w = x.shape()[3];
  win.validate(op, h, w);
  const PoolShape s{x.shape()[0] * x.shape()[1], h, w, win.out_h(h), win.out_w(w)};
  if (pooled.shape() != Shape{x.shape()[0], x.shape()[1], s.oh, s.ow} || pooled.dtype() != x.dtype())
    throw ShapeError(std::string(op) + ": pooled values must be " + Shape{x.shape()[0], x.shape()[1], s.oh, s.ow}.str());
  if (!x.is_contiguous() || !pooled.is_contiguous()) throw ShapeError(std::string(op) + ": operands must be contiguous");
  return s;
}

}  // namespace stheno
