#include "stheno/kernels/normalization.hpp"

#include <string>

#include "kernels/cpu/parallel.hpp"

namespace stheno {

void channel_moments(const Tensor& x, const Tensor& mean, const Tensor& variance) {
  if (!x.defined() || x.rank() < 2) throw ShapeError("channel_moments: x must be (N, C, ...)");
  const std::int64_t n = x.shape()[0], c = x.shape()[1], inner = n == 0 || c == 0 ? 0 : x.numel() / (n * c);
  for (const Tensor* t : {&mean, &variance})
    if (!t->defined() || t->shape() != Shape{c} || t->dtype() != x.dtype())
      throw ShapeError("channel_moments: outputs must be " + std::string(dtype_name(x.dtype())) + " " + Shape{c}.str());
  if (n * inner == 0) throw ShapeError("channel_moments: x " + x.shape().str() + " has no values per channel");
  const Tensor src = x.contiguous();
  visit_floating(x.dtype(), "channel_moments", [&]<class T>() {
    const T* p = src.data<T>();
    T* m = mean.data<T>();
    T* v = variance.data<T>();
    const std::int64_t ms = mean.strides()[0], vs = variance.strides()[0];
    const double count = static_cast<double>(n * inner);
    cpu::parallel_for(c, cpu::threads_for(2 * x.numel(), c), [&](std::int64_t begin, std::int64_t end, int) {
      for (std::int64_t ch = begin; ch < end; ++ch) {
        double sum = 0;
        for (std::int64_t i = 0; i < n; ++i) {
          const T* row = p + (i * c + ch) * inner;
          for (std::int64_t k = 0; k < inner; ++k) sum += static_cast<double>(row[k]);
        }
        const double mu = sum / count;
        double squares = 0;
        for (std::int64_t i = 0; i < n; ++i) {
          const T* row = p + (i * c + ch) * inner;
          for (std::int64_t k = 0; k < inner; ++k) {
            const double d = static_cast<double>(row[k]) - mu;
            squares += d * d;
          }
        }
        m[ch * ms] = static_cast<T>(mu);
        v[ch * vs] = static_cast<T>(squares / count);
      }
    });
  });
}

}  // namespace stheno
