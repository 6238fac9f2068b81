#include "stheno/kernels/normalization.hpp"

#include "kernels/cpu/cpu_kernels.hpp"

#include <string>

#include "kernels/cpu/parallel.hpp"
#include "kernels/device_conv.hpp"

namespace stheno {

void cpu::channel_moments(const Tensor& x, const Tensor& mean, const Tensor& variance) {
  const auto [n, c, inner] = check_channel_moments(x, mean, variance, Device::cpu());
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

void cpu::update_running_moments(const Tensor& mean, const Tensor& variance, const Tensor& running_mean,
                            const Tensor& running_var, double momentum, double variance_scale) {
  for (const Tensor* t : {&mean, &variance, &running_mean, &running_var})
    if (!t->defined() || t->rank() != 1 || t->shape() != running_mean.shape() || t->dtype() != running_mean.dtype() ||
        !is_floating(t->dtype()))
      throw ShapeError("update_running_moments: mean, variance and the running statistics must all be (C,) of one "
                       "float dtype");
  if (!running_mean.is_contiguous() || !running_var.is_contiguous())
    throw ValueError("update_running_moments: the running statistics must be contiguous");
  visit_floating(mean.dtype(), "update_running_moments", [&]<class T>() {
    T* rm = running_mean.data<T>();
    T* rv = running_var.data<T>();
    const T* m = mean.data<T>();
    const T* v = variance.data<T>();
    const std::int64_t sm = mean.strides()[0], sv = variance.strides()[0];
    const auto keep = static_cast<T>(1 - momentum), take = static_cast<T>(momentum);
    const auto unbias = static_cast<T>(variance_scale);
    for (std::int64_t c = 0; c < running_mean.numel(); ++c) {
      rm[c] = keep * rm[c] + take * m[c * sm];
      rv[c] = keep * rv[c] + take * unbias * v[c * sv];
    }
  });
}

}  // namespace stheno
