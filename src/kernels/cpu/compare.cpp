#include "stheno/kernels/compare.hpp"

#include "kernels/cpu/cpu_kernels.hpp"

#include <cmath>

#include "tensor/strided_loop.hpp"

namespace stheno {

bool cpu::allclose(const Tensor& a, const Tensor& b, double rtol, double atol, bool equal_nan) {
  if (!a.defined() || !b.defined()) throw ValueError("allclose: undefined tensor");
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), "allclose");
  const Tensor pa = a.expand(shape), pb = b.expand(shape);
  const auto loop = detail::make_strided_loop<2>(shape, {&pa.strides(), &pb.strides()});
  bool close = true;
  visit_dtype(a.dtype(), [&]<class A>() {
    visit_dtype(b.dtype(), [&]<class B>() {
      const A* x = pa.data<A>();
      const B* y = pb.data<B>();
      detail::for_each_row(loop, 0, loop.rows(), [&](const auto& off, std::int64_t n, const auto& st) {
        for (std::int64_t i = 0; i < n && close; ++i) {
          const auto u = static_cast<double>(x[off[0] + i * st[0]]);
          const auto v = static_cast<double>(y[off[1] + i * st[1]]);
          if (std::isnan(u) || std::isnan(v)) close = equal_nan && std::isnan(u) && std::isnan(v);
          else if (u != v) close = std::fabs(u - v) <= atol + rtol * std::fabs(v);  // u != v: inf vs inf is equal
        }
      });
    });
  });
  return close;
}

bool cpu::all_finite(const Tensor& t) {
  if (!t.defined()) throw ValueError("all_finite: undefined tensor");
  if (!is_floating(t.dtype())) return true;
  const auto loop = detail::make_strided_loop<1>(t.shape(), {&t.strides()});
  bool finite = true;
  visit_floating(t.dtype(), "all_finite", [&]<class T>() {
    const T* x = t.data<T>();
    detail::for_each_row(loop, 0, loop.rows(), [&](const auto& off, std::int64_t n, const auto& st) {
      bool row_ok = true;
      for (std::int64_t i = 0; i < n; ++i) row_ok &= std::isfinite(x[off[0] + i * st[0]]);
      finite = finite && row_ok;
    });
  });
  return finite;
}

}  // namespace stheno
