#include "stheno/kernels/pool.hpp"

#include "kernels/cpu/cpu_kernels.hpp"
#include "kernels/pool_checks.hpp"

#include <algorithm>
#include <limits>

#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/simd/simd_kernels.hpp"

namespace stheno {

std::string Pool2dWindow::str() const {
  auto pair = [](Size2 s) { return std::to_string(s.h) + "x" + std::to_string(s.w); };
  return "kernel " + pair(kernel) + ", stride " + pair(stride) + ", padding " + pair(padding);
}

void Pool2dWindow::validate(std::string_view op, std::int64_t height, std::int64_t width) const {
  auto where = [&] { return std::string(op) + " (" + str() + ")"; };  // built only for an error
  if (kernel.h < 1 || kernel.w < 1 || stride.h < 1 || stride.w < 1)
    throw ValueError(where() + ": kernel and stride must be at least 1");
  // Sizes from a file can be anything; past 2^31 the arithmetic below could overflow.
  constexpr std::int64_t kMax = std::int64_t{1} << 31;
  if (kernel.h > kMax || kernel.w > kMax || stride.h > kMax || stride.w > kMax)
    throw ValueError(where() + ": kernel and stride must be at most 2^31");
  if (padding.h < 0 || padding.w < 0 || padding.h > kernel.h / 2 || padding.w > kernel.w / 2)
    throw ValueError(where() + ": padding must be between 0 and half the kernel");
  if (kernel.h > height + 2 * padding.h || kernel.w > width + 2 * padding.w)
    throw ShapeError(where() + ": the window does not fit padded images of " + std::to_string(height + 2 * padding.h) + "x" +
                     std::to_string(width + 2 * padding.w));
}

namespace {

// The first pixel of the window at (oy, ox), in row-major order, that holds y (or a NaN when y is
// one), as an offset into the plane.
template <class T>
std::int64_t first_maximum(const T* plane, const PoolShape& s, const Pool2dWindow& win, std::int64_t oy, std::int64_t ox, T y) {
  const std::int64_t y0 = oy * win.stride.h - win.padding.h, x0 = ox * win.stride.w - win.padding.w;
  const std::int64_t i_lo = std::max<std::int64_t>(0, y0), i_hi = std::min(s.h, y0 + win.kernel.h);
  const std::int64_t j_lo = std::max<std::int64_t>(0, x0), j_hi = std::min(s.w, x0 + win.kernel.w);
  for (std::int64_t iy = i_lo; iy < i_hi; ++iy)
    for (std::int64_t ix = j_lo; ix < j_hi; ++ix) {
      const T v = plane[iy * s.w + ix];
      if (v == y || (v != v && y != y)) return iy * s.w + ix;
    }
  return i_lo * s.w + j_lo;  // y is not the forward's result for this window; any pixel of it will do
}

}  // namespace

void cpu::max_pool2d(const Tensor& x, const Pool2dWindow& window, const Tensor& out) {
  const PoolShape s = check_pool("max_pool2d", x, window, out);
  visit_floating(x.dtype(), "max_pool2d", [&]<class T>() {
    const cpu::MaxPool<T> job{x.data<T>(), out.data<T>(), s.h, s.w, s.oh, s.ow, window.kernel.h, window.kernel.w,
                              window.stride.h, window.stride.w, window.padding.h, window.padding.w};
    const auto& kernels = cpu::typed_kernels<T>();
    cpu::parallel_for(s.planes, cpu::threads_for(s.planes * s.h * s.w, s.planes),
                      [&](std::int64_t begin, std::int64_t end, int) { kernels.max_pool(job, begin, end); });
  });
}

void cpu::max_pool2d_backward(const Tensor& x, const Tensor& pooled, const Tensor& grad, const Pool2dWindow& window,
                         const Tensor& dx) {
  const PoolShape s = check_pool("max_pool2d_backward", x, window, grad);
  if (pooled.shape() != grad.shape() || pooled.dtype() != x.dtype() || !pooled.is_contiguous())
    throw ShapeError("max_pool2d_backward: the pooled values must be contiguous " + grad.shape().str());
  if (dx.shape() != x.shape() || dx.dtype() != x.dtype() || !dx.is_contiguous())
    throw ShapeError("max_pool2d_backward: dx must be contiguous " + x.shape().str());
  visit_floating(x.dtype(), "max_pool2d_backward", [&]<class T>() {
    const T* px = x.data<T>();
    const T* py = pooled.data<T>();
    const T* pg = grad.data<T>();
    T* pd = dx.data<T>();
    const int threads = cpu::threads_for(s.planes * s.h * s.w, s.planes);
    if (window.kernel.h == 2 && window.kernel.w == 2 && window.stride.h == 2 && window.stride.w == 2 && window.padding.h == 0 &&
        window.padding.w == 0) {
      const cpu::MaxPoolGrad2x2<T> job{px, py, pg, pd, s.h, s.w, s.oh, s.ow};
      const auto& kernels = cpu::typed_kernels<T>();
      return cpu::parallel_for(s.planes, threads, [&](std::int64_t begin, std::int64_t end, int) { kernels.max_pool_grad_2x2(job, begin, end); });
    }
    cpu::parallel_for(s.planes, threads, [&](std::int64_t begin, std::int64_t end, int) {
      for (std::int64_t p = begin; p < end; ++p) {
        const T* plane = px + p * s.h * s.w;
        T* d = pd + p * s.h * s.w;
        std::fill(d, d + s.h * s.w, T(0));
        for (std::int64_t oy = 0; oy < s.oh; ++oy)
          for (std::int64_t ox = 0; ox < s.ow; ++ox) {
            const std::int64_t o = (p * s.oh + oy) * s.ow + ox;
            d[first_maximum(plane, s, window, oy, ox, py[o])] += pg[o];
          }
      }
    });
  });
}

}  // namespace stheno
