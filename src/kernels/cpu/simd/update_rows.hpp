#pragma once
// Optimizer updates over one contiguous block of parameters. Included only by simd_kernels.cpp,
// so that each instruction set's build vectorises them (the updates stream every parameter and
// its state once a step; compiled for the baseline SSE2 they took 5% of a small network's step).
// __restrict: the parameter, its gradient and its state never overlap (optim_update.cpp checks
// that each is its own contiguous tensor of the parameter's shape).
#include <cmath>
#include <cstdint>

// Internal linkage, like everything in simd_kernels.cpp: each instruction set's copy must stay
// its own, or the linker keeps one (the AVX-512 one ran on an AVX2 CPU: SIGILL).
namespace stheno::cpu {
namespace {
namespace update_rows {

template <class T>
void sgd(std::int64_t n, T* __restrict p, const T* __restrict g, T* __restrict v, T rate, T mu, bool nesterov, T wd) {
  if (!v) {
    for (std::int64_t i = 0; i < n; ++i) p[i] -= rate * (g[i] + wd * p[i]);
    return;
  }
  if (nesterov) {
    for (std::int64_t i = 0; i < n; ++i) {
      const T gi = g[i] + wd * p[i];
      v[i] = mu * v[i] + gi;
      p[i] -= rate * (gi + mu * v[i]);
    }
    return;
  }
  for (std::int64_t i = 0; i < n; ++i) {
    v[i] = mu * v[i] + g[i] + wd * p[i];
    p[i] -= rate * v[i];
  }
}

template <class T>
void adagrad(std::int64_t n, T* __restrict p, const T* __restrict g, T* __restrict s, T rate, T eps, T wd) {
  for (std::int64_t i = 0; i < n; ++i) {
    const T gi = g[i] + wd * p[i];
    s[i] += gi * gi;
    p[i] -= rate * gi / (std::sqrt(s[i]) + eps);
  }
}

template <class T>
void rmsprop(std::int64_t n, T* __restrict p, const T* __restrict g, T* __restrict a, T* __restrict b, T rate, T alpha,
             T eps, T mu, T wd) {
  for (std::int64_t i = 0; i < n; ++i) {
    const T gi = g[i] + wd * p[i];
    a[i] = alpha * a[i] + (T(1) - alpha) * gi * gi;
    const T step = gi / (std::sqrt(a[i]) + eps);
    if (b) {
      b[i] = mu * b[i] + step;
      p[i] -= rate * b[i];
    } else {
      p[i] -= rate * step;
    }
  }
}

// Adam with bias corrections folded in: inv_c1 = 1/(1-β1^t), inv_sqrt_c2 = 1/sqrt(1-β2^t);
// shrink is 1 - rate·wd for decoupled weight decay (AdamW), l2 the coupled decay otherwise.
template <class T>
void adam(std::int64_t n, T* __restrict p, const T* __restrict g, T* __restrict m, T* __restrict v, T rate, T beta1,
          T beta2, T eps, T inv_c1, T inv_sqrt_c2, T shrink, T l2) {
  for (std::int64_t i = 0; i < n; ++i) {
    const T gi = g[i] + l2 * p[i];
    m[i] = beta1 * m[i] + (T(1) - beta1) * gi;
    v[i] = beta2 * v[i] + (T(1) - beta2) * gi * gi;
    p[i] = p[i] * shrink - rate * (m[i] * inv_c1) / (std::sqrt(v[i]) * inv_sqrt_c2 + eps);
  }
}

}  // namespace update_rows
}  // namespace
}  // namespace stheno::cpu
