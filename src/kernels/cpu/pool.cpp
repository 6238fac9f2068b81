#include "stheno/kernels/pool.hpp"

#include <algorithm>
#include <string>

#include "kernels/cpu/parallel.hpp"

namespace stheno {

namespace {

struct PoolShape {
  std::int64_t planes, h, w, oh, ow;
};

PoolShape check(const char* op, const Tensor& x, std::int64_t kernel, std::int64_t stride, const Tensor& pooled) {
  if (!x.defined() || x.rank() != 4) throw ShapeError(std::string(op) + ": expects (N, C, H, W) images");
  if (kernel < 1 || stride < 1) throw ValueError(std::string(op) + ": kernel and stride must be at least 1");
  const std::int64_t h = x.shape()[2], w = x.shape()[3];
  if (kernel > h || kernel > w)
    throw ShapeError(std::string(op) + ": a " + std::to_string(kernel) + "x" + std::to_string(kernel) +
                     " window does not fit images of " + std::to_string(h) + "x" + std::to_string(w));
  const PoolShape s{x.shape()[0] * x.shape()[1], h, w, (h - kernel) / stride + 1, (w - kernel) / stride + 1};
  if (pooled.shape() != Shape{x.shape()[0], x.shape()[1], s.oh, s.ow} || pooled.dtype() != x.dtype())
    throw ShapeError(std::string(op) + ": pooled values must be " + Shape{x.shape()[0], x.shape()[1], s.oh, s.ow}.str());
  if (!x.is_contiguous() || !pooled.is_contiguous()) throw ShapeError(std::string(op) + ": operands must be contiguous");
  return s;
}

// NaN wins, so that it propagates like the max reduction's.
template <class T>
inline T larger(T a, T b) {
  return b > a || b != b ? b : a;
}

// One plane: each output row starts from its windows' first taps, then takes the maximum with
// every other tap, a loop over the row that the compiler vectorises.
template <class T>
void pool_plane(const T* plane, const PoolShape& s, std::int64_t kernel, std::int64_t stride, T* out) {
  for (std::int64_t oy = 0; oy < s.oh; ++oy) {
    T* row = out + oy * s.ow;
    const T* top = plane + oy * stride * s.w;
    for (std::int64_t ox = 0; ox < s.ow; ++ox) row[ox] = top[ox * stride];
    for (std::int64_t i = 0; i < kernel; ++i)
      for (std::int64_t j = i == 0 ? 1 : 0; j < kernel; ++j) {
        const T* tap = top + i * s.w + j;
        for (std::int64_t ox = 0; ox < s.ow; ++ox) row[ox] = larger(row[ox], tap[ox * stride]);
      }
  }
}

}  // namespace

void max_pool2d(const Tensor& x, std::int64_t kernel, std::int64_t stride, const Tensor& out) {
  const PoolShape s = check("max_pool2d", x, kernel, stride, out);
  visit_floating(x.dtype(), "max_pool2d", [&]<class T>() {
    const T* px = x.data<T>();
    T* po = out.data<T>();
    cpu::parallel_for(s.planes, cpu::threads_for(s.planes * s.h * s.w, s.planes), [&](std::int64_t begin, std::int64_t end, int) {
      for (std::int64_t p = begin; p < end; ++p) pool_plane(px + p * s.h * s.w, s, kernel, stride, po + p * s.oh * s.ow);
    });
  });
}

void max_pool2d_backward(const Tensor& x, const Tensor& pooled, const Tensor& grad, std::int64_t kernel, std::int64_t stride,
                         const Tensor& dx) {
  const PoolShape s = check("max_pool2d_backward", x, kernel, stride, grad);
  if (pooled.shape() != grad.shape() || pooled.dtype() != x.dtype() || !pooled.is_contiguous())
    throw ShapeError("max_pool2d_backward: the pooled values must be contiguous " + grad.shape().str());
  if (dx.shape() != x.shape() || dx.dtype() != x.dtype() || !dx.is_contiguous())
    throw ShapeError("max_pool2d_backward: dx must be contiguous " + x.shape().str());
  visit_floating(x.dtype(), "max_pool2d_backward", [&]<class T>() {
    const T* px = x.data<T>();
    const T* py = pooled.data<T>();
    const T* pg = grad.data<T>();
    T* pd = dx.data<T>();
    cpu::parallel_for(s.planes, cpu::threads_for(s.planes * s.h * s.w, s.planes), [&](std::int64_t begin, std::int64_t end, int) {
      for (std::int64_t p = begin; p < end; ++p) {
        const T* plane = px + p * s.h * s.w;
        T* d = pd + p * s.h * s.w;
        std::fill(d, d + s.h * s.w, T(0));
        for (std::int64_t oy = 0; oy < s.oh; ++oy)
          for (std::int64_t ox = 0; ox < s.ow; ++ox) {
            const std::int64_t o = (p * s.oh + oy) * s.ow + ox;
            const T y = py[o];
            // The first tap holding the window's maximum (or the NaN that won) takes the gradient.
            const std::int64_t corner = oy * stride * s.w + ox * stride;
            std::int64_t at = corner;
            for (std::int64_t i = 0, found = 0; i < kernel && !found; ++i)
              for (std::int64_t j = 0; j < kernel; ++j) {
                const T v = plane[corner + i * s.w + j];
                if (v == y || (v != v && y != y)) {
                  at = corner + i * s.w + j;
                  found = 1;
                  break;
                }
              }
            d[at] += pg[o];
          }
      }
    });
  });
}

}  // namespace stheno
