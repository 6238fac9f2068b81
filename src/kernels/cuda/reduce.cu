// Reductions over any axes, argmax, and the per-part sums behind gradient clipping and the NaN
// watch. One thread per output element walks the reduced elements in order, so results do not
// depend on how work is shared out (the host's order, and so the host's rounding).
#include "kernels/cuda/common.cuh"

namespace stheno::cuda {
namespace {

template <class T>
__device__ T combine(int op, T p, T q) {
  return op == 2 ? (p != p ? p : (p > q ? p : q)) : p + q;
}

template <class T>
__global__ void reduce_kernel(int op, bool blocked, T scale, T* y, DeviceView yv, const T* x, DeviceView kept,
                              DeviceView reduced, Index outer, Index r) {
  const Index i = thread_index();
  if (i >= outer) return;
  const Index base = at(kept, i);
  if (blocked) {
    T total = 0;
    for (Index j0 = 0; j0 < r; j0 += 64) {
      const Index j1 = r < j0 + 64 ? r : j0 + 64;
      T acc = x[base + at(reduced, j0)];
      for (Index j = j0 + 1; j < j1; ++j) acc = combine(op, acc, x[base + at(reduced, j)]);
      total = j0 == 0 ? acc : combine(op, total, acc);
    }
    y[at(yv, i)] = op == 1 ? total * scale : total;
    return;
  }
  if (op == 2) {
    T best = x[base];
    for (Index j = 1; j < r; ++j) best = combine(2, best, x[base + at(reduced, j)]);
    y[at(yv, i)] = best;
    return;
  }
  double acc = 0;
  for (Index j = 0; j < r; ++j) acc += static_cast<double>(x[base + at(reduced, j)]);
  y[at(yv, i)] = static_cast<T>(acc * static_cast<double>(scale));
}

template <class T>
__global__ void argmax_kernel(std::int32_t* y, DeviceView yv, const T* x, DeviceView kept, DeviceView reduced, Index outer,
                              Index r) {
  const Index i = thread_index();
  if (i >= outer) return;
  const Index base = at(kept, i);
  Index best = 0;
  T best_value = x[base];
  for (Index j = 1; j < r && best_value == best_value; ++j) {
    const T v = x[base + at(reduced, j)];
    if (v > best_value || v != v) {
      best = j;
      best_value = v;
    }
  }
  y[at(yv, i)] = static_cast<std::int32_t>(best);
}

// Part p of `parts` covers elements p, p + parts, ...
template <class T>
__global__ void sum_squares_kernel(double* partial, const T* x, DeviceView xv, Index n, Index parts) {
  const Index p = thread_index();
  if (p >= parts) return;
  double acc = 0;
  for (Index i = p; i < n; i += parts) {
    const double v = x[at(xv, i)];
    acc += v * v;
  }
  partial[p] = acc;
}

template <class T>
__global__ void non_finite_kernel(double* partial, const T* x, DeviceView xv, Index n, Index parts) {
  const Index p = thread_index();
  if (p >= parts) return;
  double count = 0;
  for (Index i = p; i < n; i += parts)
    if (!isfinite(x[at(xv, i)])) count += 1;
  partial[p] = count;
}

}  // namespace

cudaError_t reduce(int op, bool blocked, double scale, Elem t, void* y, DeviceView yv, const void* x, DeviceView kept,
                   DeviceView reduced, Index outer, Index r, cudaStream_t s) {
  return with_float(t, [&](auto tag) { using T = decltype(tag);
    return launch_over(outer, s, reduce_kernel<T>, op, blocked, static_cast<T>(scale), static_cast<T*>(y), yv,
                       static_cast<const T*>(x), kept, reduced, outer, r);
  });
}

cudaError_t argmax(Elem t, std::int32_t* y, DeviceView yv, const void* x, DeviceView kept, DeviceView reduced, Index outer,
                   Index r, cudaStream_t s) {
  return with_float(t, [&](auto tag) { using T = decltype(tag);
    return launch_over(outer, s, argmax_kernel<T>, y, yv, static_cast<const T*>(x), kept, reduced, outer, r);
  });
}

cudaError_t sum_squares(Elem t, double* partial, const void* x, DeviceView xv, Index n, Index parts, cudaStream_t s) {
  return with_float(t, [&](auto tag) { using T = decltype(tag);
    return launch_over(parts, s, sum_squares_kernel<T>, partial, static_cast<const T*>(x), xv, n, parts);
  });
}

cudaError_t non_finite(Elem t, double* partial, const void* x, DeviceView xv, Index n, Index parts, cudaStream_t s) {
  return with_float(t, [&](auto tag) { using T = decltype(tag);
    return launch_over(parts, s, non_finite_kernel<T>, partial, static_cast<const T*>(x), xv, n, parts);
  });
}

}  // namespace stheno::cuda
