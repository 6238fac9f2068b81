// Optimizer updates, one pass over a parameter, its gradient and its state, in the host's
// arithmetic (kernels/cpu/simd/update_rows.hpp); and scaling a gradient.
#include <cmath>

#include "kernels/cuda/common.cuh"

namespace stheno::cuda {
namespace {

template <class T>
__global__ void sgd_kernel(T* p, const T* g, T* v, T rate, T mu, bool nesterov, T wd, bool has_velocity, Index n) {
  const Index i = thread_index();
  if (i >= n) return;
  if (!has_velocity) {
    p[i] -= rate * (g[i] + wd * p[i]);
    return;
  }
  const T gi = g[i] + wd * p[i];
  v[i] = mu * v[i] + gi;
  p[i] -= rate * (nesterov ? gi + mu * v[i] : v[i]);
}

template <class T>
__global__ void adagrad_kernel(T* p, const T* g, T* sums, T rate, T eps, T wd, Index n) {
  const Index i = thread_index();
  if (i >= n) return;
  const T gi = g[i] + wd * p[i];
  sums[i] += gi * gi;
  p[i] -= rate * gi / (sqrt(sums[i]) + eps);
}

template <class T>
__global__ void rmsprop_kernel(T* p, const T* g, T* a, T* b, T rate, T alpha, T eps, T mu, T wd, bool has_momentum, Index n) {
  const Index i = thread_index();
  if (i >= n) return;
  const T gi = g[i] + wd * p[i];
  a[i] = alpha * a[i] + (T(1) - alpha) * gi * gi;
  const T step = gi / (sqrt(a[i]) + eps);
  if (has_momentum) {
    b[i] = mu * b[i] + step;
    p[i] -= rate * b[i];
  } else {
    p[i] -= rate * step;
  }
}

template <class T>
__global__ void adam_kernel(T* p, const T* g, T* m, T* v, T rate, T beta1, T beta2, T eps, T inv_c1, T inv_sqrt_c2, T shrink,
                            T l2, Index n) {
  const Index i = thread_index();
  if (i >= n) return;
  const T gi = g[i] + l2 * p[i];
  m[i] = beta1 * m[i] + (T(1) - beta1) * gi;
  v[i] = beta2 * v[i] + (T(1) - beta2) * gi * gi;
  p[i] = p[i] * shrink - rate * (m[i] * inv_c1) / (sqrt(v[i]) * inv_sqrt_c2 + eps);
}

template <class T>
__global__ void scale_kernel(T* g, double factor, Index n) {
  const Index i = thread_index();
  if (i < n) g[i] = static_cast<T>(static_cast<double>(g[i]) * factor);
}

}  // namespace

cudaError_t sgd(Elem t, void* p, const void* g, void* v, double rate, double mu, bool nesterov, double wd, bool has_velocity,
                Index n, cudaStream_t s) {
  return with_float(t, [&](auto tag) { using T = decltype(tag);
    return launch_over(n, s, sgd_kernel<T>, static_cast<T*>(p), static_cast<const T*>(g), static_cast<T*>(v),
                       static_cast<T>(rate), static_cast<T>(mu), nesterov, static_cast<T>(wd), has_velocity, n);
  });
}

cudaError_t adagrad(Elem t, void* p, const void* g, void* sum_squares, double rate, double eps, double wd, Index n,
                    cudaStream_t s) {
  return with_float(t, [&](auto tag) { using T = decltype(tag);
    return launch_over(n, s, adagrad_kernel<T>, static_cast<T*>(p), static_cast<const T*>(g), static_cast<T*>(sum_squares),
                       static_cast<T>(rate), static_cast<T>(eps), static_cast<T>(wd), n);
  });
}

cudaError_t rmsprop(Elem t, void* p, const void* g, void* square_avg, void* momentum_buffer, double rate, double alpha,
                    double eps, double mu, double wd, bool has_momentum, Index n, cudaStream_t s) {
  return with_float(t, [&](auto tag) { using T = decltype(tag);
    return launch_over(n, s, rmsprop_kernel<T>, static_cast<T*>(p), static_cast<const T*>(g), static_cast<T*>(square_avg),
                       static_cast<T*>(momentum_buffer), static_cast<T>(rate), static_cast<T>(alpha), static_cast<T>(eps),
                       static_cast<T>(mu), static_cast<T>(wd), has_momentum, n);
  });
}

cudaError_t adam(Elem t, void* p, const void* g, void* m, void* v, const AdamScalars& a, Index n, cudaStream_t s) {
  return with_float(t, [&](auto tag) { using T = decltype(tag);
    return launch_over(n, s, adam_kernel<T>, static_cast<T*>(p), static_cast<const T*>(g), static_cast<T*>(m),
                       static_cast<T*>(v), static_cast<T>(a.rate), static_cast<T>(a.beta1), static_cast<T>(a.beta2),
                       static_cast<T>(a.eps), static_cast<T>(a.inv_c1), static_cast<T>(a.inv_sqrt_c2),
                       static_cast<T>(a.shrink), static_cast<T>(a.l2), n);
  });
}

cudaError_t scale(Elem t, void* g, double factor, Index n, cudaStream_t s) {
  return with_float(t, [&](auto tag) { using T = decltype(tag); return launch_over(n, s, scale_kernel<T>, static_cast<T*>(g), factor, n); });
}

}  // namespace stheno::cuda
